"""Load experiments from files and folders; errors name file, line, column and field."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from harness._yamlsource import SourceDocument, load_yaml_file, load_yaml_text, validation_problems
from harness.errors import ExperimentError, Problem
from harness.experiment._model import Experiment
from harness.experiment._windows import too_short
from harness.istio import parse_duration_s, yaml_files

OTHER_KINDS = frozenset({"VirtualService", "DestinationRule", "Gateway", "Topology", "List"})


@dataclass(frozen=True)
class LoadedExperiment:
    experiment: Experiment
    source: SourceDocument

    @property
    def path(self) -> Path | None:
        return self.source.path


def load_experiments(paths: Iterable[Path], *, check_windows: bool = True) -> list[LoadedExperiment]:
    """Read every Experiment document under ``paths`` (files or folders), all problems at once.

    ``check_windows=False`` leaves windows too short for the stated scrape interval to the caller (``harness
    lint`` reports them as findings rather than refusing the file).
    """
    documents: list[SourceDocument] = []
    for given in paths:
        if not given.exists():
            raise ExperimentError(f"{given}: no such file or folder", [])
        for path in yaml_files([given]):
            found = load_yaml_file(path, ExperimentError)
            if given.is_dir():
                # folders may hold the Istio YAML that experiments apply as policies: not experiments
                found = [d for d in found if not (isinstance(d.data, dict) and d.data.get("kind") in OTHER_KINDS)]
            documents.extend(found)
    loaded = _validate(documents, check_windows=check_windows)
    if not loaded:
        raise ExperimentError(f"no experiments found in {', '.join(str(p) for p in paths)}", [])
    return loaded


def load_experiment_text(text: str, path: Path | None = None) -> list[LoadedExperiment]:
    """Parse experiments from YAML text; raise ExperimentError for anything invalid."""
    return _validate(load_yaml_text(text, path, ExperimentError))


def _validate(documents: list[SourceDocument], *, check_windows: bool = True) -> list[LoadedExperiment]:
    loaded: list[LoadedExperiment] = []
    problems: list[Problem] = []
    for doc in documents:
        if not isinstance(doc.data, dict) or doc.data.get("kind") != "Experiment":
            problems.append(doc.problem(("kind",), "expected kind: Experiment"))
            continue
        try:
            loaded.append(LoadedExperiment(Experiment.model_validate(doc.data), doc))
        except ValidationError as exc:
            problems.extend(validation_problems(doc, exc))
    for item in loaded if check_windows else ():
        problems.extend(_window_problems(item))
    names = [item.experiment.metadata.name for item in loaded]
    for item in loaded:
        if names.count(item.experiment.metadata.name) > 1:
            problems.append(item.source.problem(("metadata", "name"), "another experiment has the same name"))
    if problems:
        raise ExperimentError("invalid experiment definition", problems)
    return loaded


def _window_problems(item: LoadedExperiment) -> list[Problem]:
    """With a stated scrape interval, mesh hypotheses whose windows it cannot fill are input errors."""
    exp = item.experiment
    if not exp.target.scrape_interval:
        return []
    interval = parse_duration_s(exp.target.scrape_interval)
    problems = []
    for index, h in enumerate(exp.hypotheses):
        why = too_short(h, exp.phases, interval)
        if why:
            field = "within" if h.within else "after" if h.after else "phase"
            problems.append(item.source.problem(("hypotheses", index, field),
                                                f"{why} (target.scrapeInterval {exp.target.scrape_interval}); "
                                                f"lengthen phases.{h.phase} or judge it from source: client"))
    return problems
