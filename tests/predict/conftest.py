"""Predict against the sandbox's demo mesh (no sandbox needed): experiments and policies written to tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.experiment import load_experiments
from harness.lint import MeshSnapshot
from harness.lint._sources import demo_reader
from harness.mesh import read_live
from harness.predict import Prediction, predict_experiment
from harness.sandbox import load_topology

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "experiments" / "sandbox"


def demo() -> MeshSnapshot:
    topology = load_topology()
    return MeshSnapshot("demo", read_live(demo_reader(topology), "shop"), topology)


def experiment(hypotheses: list[dict[str, Any]], **parts: Any) -> dict[str, Any]:
    """An experiment in the demo shop; ``parts`` replace whole top-level sections."""
    base: dict[str, Any] = {"apiVersion": "harness/v1", "kind": "Experiment", "metadata": {"name": "probe"},
                            "target": {"namespace": "shop"},
                            "phases": {"baseline": "8s", "fault": "15s", "recovery": "8s"},
                            "load": {"users": 20, "rate": 60, "taggedShare": 0.5}, "hypotheses": hypotheses}
    return {**base, **parts}


def predict_example(name: str) -> list[Prediction]:
    (loaded,) = load_experiments([EXAMPLES / name], check_windows=False)
    return predict_experiment(loaded, demo())


Predict = Callable[..., list[Prediction]]


@pytest.fixture
def predict(tmp_path: Path) -> Predict:
    """Write an experiment (and its policy files) and predict it against the demo mesh."""
    def run(doc: dict[str, Any], *, policies: Mapping[str, Any] | None = None) -> list[Prediction]:
        for name, content in (policies or {}).items():
            (tmp_path / name).write_text(yaml.safe_dump(content, sort_keys=False))
        if policies:
            doc = {**doc, "policies": list(policies)}
        path = tmp_path / "experiment.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        (loaded,) = load_experiments([path], check_windows=False)
        return predict_experiment(loaded, demo())
    return run
