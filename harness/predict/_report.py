"""``harness predict``: the predictions for every experiment under some paths, read against the same mesh
sources as ``harness lint``, as a text table or JSON."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from harness.experiment import LoadedExperiment, load_experiments
from harness.lint import MeshOptions, MeshSnapshot, read_mesh
from harness.predict._predict import predict_experiment
from harness.predict._prediction import Prediction


@dataclass(frozen=True)
class ExperimentPrediction:
    name: str
    path: str
    mesh: str                      # which picture of the mesh the predictions rest on
    predictions: tuple[Prediction, ...]
    notes: tuple[str, ...] = ()

    @property
    def predicted_to_fail(self) -> list[Prediction]:
        return [p for p in self.predictions if p.meets_bound is False]


@dataclass(frozen=True)
class PredictReport:
    experiments: tuple[ExperimentPrediction, ...]


def predict_paths(paths: Sequence[Path], options: MeshOptions | None = None) -> PredictReport:
    """Predict every experiment under ``paths``; each target mesh (backend, namespace, context) is read once."""
    options = options or MeshOptions()
    snapshots: dict[tuple[str, str, str | None], MeshSnapshot] = {}
    results = []
    for loaded in load_experiments(paths, check_windows=False):
        target = loaded.experiment.target
        key = (options.backend or target.backend, target.namespace, options.context or target.context)
        if key not in snapshots:
            snapshots[key] = read_mesh(key[0], key[1], replace(options, context=key[2]))
        snapshot = snapshots[key]
        results.append(ExperimentPrediction(loaded.experiment.metadata.name, str(loaded.path or ""),
                                            snapshot.description, tuple(predict_experiment(loaded, snapshot)),
                                            tuple(snapshot.notes)))
    return PredictReport(tuple(results))


def _verdict(p: Prediction) -> str:
    if p.value is None:
        return "-"
    return {True: "predicted to PASS", False: "predicted to FAIL", None: "undecided"}[p.meets_bound] \
        if p.bound else "expect: predicted"


def render_text(report: PredictReport) -> str:
    lines: list[str] = []
    for exp in report.experiments:
        lines.append(f"{exp.name}  ({exp.path}; mesh: {exp.mesh})")
        for p in exp.predictions:
            where = f"{p.measure} ({p.source}, {p.phase}, {p.cohort})"
            lines.append(f"  {_verdict(p):18} {p.hypothesis}")
            lines.append(f"      {where}: predicted {p.describe()}" + (f"; bound: {p.bound}" if p.bound else ""))
            for assumption in p.assumptions:
                lines.append(f"      - {assumption}")
        lines += [f"  note: {n}" for n in exp.notes]
        lines.append("")
    failing = sum(len(e.predicted_to_fail) for e in report.experiments)
    total = sum(len(e.predictions) for e in report.experiments)
    lines.append(f"{total} hypotheses predicted; {failing} predicted to FAIL their bound")
    return "\n".join(lines)


def render_json(report: PredictReport) -> str:
    return json.dumps({"experiments": [
        {"name": e.name, "path": e.path, "mesh": e.mesh, "notes": list(e.notes),
         "predictions": [p.to_dict() for p in e.predictions]} for e in report.experiments]}, indent=2)


def safely_predicted(loaded: LoadedExperiment, snapshot: MeshSnapshot | None) -> tuple[list[Prediction], str | None]:
    """The predictions for a run, or none and why: a prediction failure never fails a run."""
    if snapshot is None:
        return [], "no predictions: preflight read no picture of the mesh"
    try:
        return predict_experiment(loaded, snapshot), None
    except Exception as exc:  # noqa: BLE001 - a modelling gap must not stop an experiment; the note says what broke
        return [], f"no predictions: the model failed ({type(exc).__name__}: {exc})"
