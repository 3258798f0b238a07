"""YAML documents that remember where each field came from, so errors can name file:line:column."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from harness.errors import InputError, Location, Problem

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class SourceDocument:
    """One YAML document: its data and the position of every field in it."""

    path: Path | None
    data: Any
    marks: dict[PathKey, tuple[int, int]] = field(default_factory=dict, repr=False)
    start_line: int = 1

    def locate(self, loc: Sequence[str | int]) -> Location:
        """Return the position of ``loc``, or of its nearest ancestor that exists."""
        key = tuple(loc)
        while key:
            if key in self.marks:
                line, column = self.marks[key]
                return Location(self.path, line, column)
            key = key[:-1]
        return Location(self.path, self.start_line, 1)

    def problem(self, loc: Sequence[str | int], message: str, *, hint: str | None = None) -> Problem:
        return Problem(self.locate(loc), format_field(loc), message, hint)


def format_field(loc: Iterable[str | int]) -> str:
    """Render a field path the way users write it: ``spec.http[0].timeout``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


def load_yaml_file(path: Path, error: type[InputError] = InputError) -> list[SourceDocument]:
    """Read every document of a YAML file; syntax errors become ``error`` with the line."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror}", []) from None
    return load_yaml_text(text, path, error)


def load_yaml_text(
    text: str, path: Path | None = None, error: type[InputError] = InputError
) -> list[SourceDocument]:
    """Parse YAML text into located documents; empty documents are skipped."""
    documents: list[SourceDocument] = []
    loader: yaml.SafeLoader | None = None
    try:
        loader = yaml.SafeLoader(text)  # rejects control characters right away (ReaderError)
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            problems: list[Problem] = []
            marks: dict[PathKey, tuple[int, int]] = {}
            _collect_marks(node, (), marks, problems, path)
            if problems:
                raise error(f"{path or '<input>'}: invalid YAML", problems)
            data = loader.construct_document(node)
            if data is not None:
                documents.append(SourceDocument(path, data, marks, node.start_mark.line + 1))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        location = Location(path, mark.line + 1, mark.column + 1) if mark else Location(path)
        raise error(
            f"{path or '<input>'}: invalid YAML", [Problem(location, "", str(exc.problem or exc))]
        ) from None
    except yaml.YAMLError as exc:
        raise error(f"{path or '<input>'}: invalid YAML", [Problem(Location(path), "", str(exc))]) from None
    finally:
        if loader is not None:
            loader.dispose()
    return documents


def _collect_marks(
    node: yaml.Node,
    prefix: PathKey,
    marks: dict[PathKey, tuple[int, int]],
    problems: list[Problem],
    path: Path | None,
) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: set[str] = set()
        for key_node, value_node in node.value:
            key = str(key_node.value)
            here = prefix + (key,)
            position = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            if key in seen and key != "<<":
                problems.append(Problem(Location(path, *position), format_field(here), "duplicate key"))
            seen.add(key)
            marks[here] = position
            _collect_marks(value_node, here, marks, problems, path)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            here = prefix + (index,)
            marks[here] = (item.start_mark.line + 1, item.start_mark.column + 1)
            _collect_marks(item, here, marks, problems, path)


def validation_problems(doc: SourceDocument, exc: ValidationError, prefix: PathKey = ()) -> list[Problem]:
    """Turn a pydantic error into problems located in ``doc``."""
    problems = []
    for err in exc.errors():
        loc = prefix + tuple(part for part in err["loc"] if not _is_union_tag(part))
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        problems.append(doc.problem(loc, message))
    return problems


def _is_union_tag(part: str | int) -> bool:
    # pydantic adds the member type's name to locs inside unions ("function-after[...]", "str")
    return isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "bool"})
