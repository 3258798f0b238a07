"""Load Istio YAML (files, folders, many documents) into typed resources, with located errors."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from harness._yamlsource import PathKey, SourceDocument, load_yaml_file, validation_problems
from harness.errors import MeshConfigError, Problem
from harness.istio._resources import API_GROUP, RESOURCE_KINDS, IstioModel, IstioObject

YAML_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True)
class LoadedResource:
    """A typed Istio object together with the document it came from."""

    obj: IstioObject
    source: SourceDocument

    @property
    def raw(self) -> dict[str, Any]:
        return dict(self.source.data)


@dataclass
class LoadResult:
    resources: list[LoadedResource] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def objects(self) -> list[IstioObject]:
        return [r.obj for r in self.resources]


def yaml_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders into their YAML files (sorted), keep files as given.

    Hidden entries are skipped: a ConfigMap volume holds each file twice, as ``name.yaml`` (a symlink)
    and inside the ``..data`` / ``..<timestamp>`` folders of Kubernetes' atomic writer.
    """
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in YAML_SUFFIXES and p.is_file()
                                and not any(part.startswith(".") for part in p.relative_to(path).parts)))
        else:
            found.append(path)
    return found


def load_istio(paths: Iterable[Path]) -> LoadResult:
    """Read every Istio resource under ``paths``; raise MeshConfigError listing every problem."""
    result = LoadResult()
    errors: list[Problem] = []
    for path in yaml_files(paths):
        if not path.exists():
            raise MeshConfigError(f"{path}: no such file or folder", [])
        for doc in load_yaml_file(path, MeshConfigError):
            _load_document(doc, (), doc.data, result, errors)
    _check_duplicates(result, errors)
    if errors:
        raise MeshConfigError("invalid Istio configuration", errors)
    return result


def parse_istio_object(data: dict[str, Any], source: SourceDocument | None = None) -> IstioObject:
    """Validate one resource given as data (e.g. read from a backend); raise MeshConfigError."""
    doc = source or SourceDocument(None, data)
    result, errors = LoadResult(), []
    _load_document(doc, (), data, result, errors)
    if errors:
        raise MeshConfigError(f"invalid {data.get('kind', 'resource')}", errors)
    if not result.resources:
        raise MeshConfigError(f"{data.get('kind')!r} is not an Istio networking resource", [])
    return result.resources[0].obj


def _load_document(
    doc: SourceDocument, prefix: PathKey, data: Any, result: LoadResult, errors: list[Problem]
) -> None:
    if not isinstance(data, dict):
        errors.append(doc.problem(prefix, "expected a mapping (a Kubernetes object)"))
        return
    kind, api_version = data.get("kind"), str(data.get("apiVersion", ""))
    if kind == "List":
        for index, item in enumerate(data.get("items") or []):
            _load_document(doc, prefix + ("items", index), item, result, errors)
        return
    model = RESOURCE_KINDS.get(str(kind))
    if model is None or not api_version.startswith(API_GROUP + "/"):
        result.warnings.append(doc.problem(prefix + ("kind",), f"{api_version} {kind} is not used by the mesh; ignored"))
        return
    try:
        obj = model.model_validate(data)
    except ValidationError as exc:
        errors.extend(validation_problems(doc, exc, prefix))
        return
    field_errors, field_warnings = _extra_fields(obj, doc, prefix)
    errors.extend(field_errors)
    result.warnings.extend(field_warnings)
    if not field_errors:
        result.resources.append(LoadedResource(obj, doc))


def _extra_fields(model: BaseModel, doc: SourceDocument, path: PathKey) -> tuple[list[Problem], list[Problem]]:
    """Unknown fields are errors (typos); fields Istio has but we do not model are warnings."""
    errors: list[Problem] = []
    warnings: list[Problem] = []
    if isinstance(model, IstioModel):
        known_aliases = [f.alias or name for name, f in type(model).model_fields.items()]
        for key in (model.model_extra or {}):
            if key in type(model).istio_known:
                warnings.append(doc.problem(path + (key,), "is not modelled by the harness; ignored"))
            else:
                close = difflib.get_close_matches(key, known_aliases + sorted(type(model).istio_known), n=1)
                errors.append(doc.problem(path + (key,), "unknown field",
                                          hint=f"did you mean {close[0]!r}?" if close else None))
    for name, info in type(model).model_fields.items():
        value = getattr(model, name)
        alias = info.alias or name
        for sub_path, sub in _children(path + (alias,), value):
            sub_errors, sub_warnings = _extra_fields(sub, doc, sub_path)
            errors.extend(sub_errors)
            warnings.extend(sub_warnings)
    return errors, warnings


def _children(path: PathKey, value: Any) -> list[tuple[PathKey, BaseModel]]:
    if isinstance(value, BaseModel):
        return [(path, value)]
    if isinstance(value, list):
        return [(path + (i,), v) for i, v in enumerate(value) if isinstance(v, BaseModel)]
    if isinstance(value, dict):
        return [(path + (k,), v) for k, v in value.items() if isinstance(v, BaseModel)]
    return []


def _check_duplicates(result: LoadResult, errors: list[Problem]) -> None:
    seen: dict[tuple[str, str, str], LoadedResource] = {}
    for loaded in result.resources:
        first = seen.setdefault(loaded.obj.key, loaded)
        if first is not loaded:
            errors.append(loaded.source.problem(("metadata", "name"),
                                                f"{loaded.obj.ref} is defined twice",
                                                hint=f"first defined at {first.source.locate(('metadata', 'name'))}"))
