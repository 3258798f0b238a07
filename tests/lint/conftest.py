"""Lint against the sandbox's demo mesh (no sandbox needed): experiments and policies written to tmp_path."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from harness.errors import Location
from harness.experiment import load_experiments
from harness.lint import ExperimentLint, MeshSnapshot, Severity, lint_experiment
from harness.lint._sources import demo_reader
from harness.mesh import read_live
from harness.sandbox import load_topology

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "experiments" / "sandbox"


def experiment(**parts: Any) -> dict[str, Any]:
    """An experiment in the demo shop; ``parts`` replace whole top-level sections."""
    base: dict[str, Any] = {"apiVersion": "harness/v1", "kind": "Experiment", "metadata": {"name": "probe"},
                            "target": {"namespace": "shop"}, "phases": {"baseline": "8s", "fault": "15s",
                                                                       "recovery": "8s"},
                            "load": {"users": 20, "rate": 60, "taggedShare": 0.5}}
    return {**base, **parts}


def example(name: str, **changes: Any) -> dict[str, Any]:
    """One of the example experiments as data, with top-level sections changed."""
    doc = yaml.safe_load((EXAMPLES / name).read_text())
    return {**doc, **changes}


def demo(**changes: Any) -> MeshSnapshot:
    """The demo mesh as a running sandbox serves it; keywords as ``demo_reader`` takes them."""
    topology = load_topology()
    return MeshSnapshot("demo", read_live(demo_reader(topology, **changes), "shop"), topology)


def lint_example(name: str, mesh: MeshSnapshot | None = None) -> ExperimentLint:
    """An example experiment as it is, with its own policy files."""
    (loaded,) = load_experiments([EXAMPLES / name], check_windows=False)
    return lint_experiment(loaded, mesh or demo())


def located_text(location: Location | None) -> str:
    """The line a location points at."""
    assert location is not None and location.path is not None and location.line is not None
    return location.path.read_text().splitlines()[location.line - 1]


def codes(result: ExperimentLint, severity: Severity | None = None) -> list[str]:
    return sorted(f.code for f in result.findings if severity is None or f.severity is severity)


Lint = Callable[..., ExperimentLint]


@pytest.fixture(autouse=True)
def _from_the_repository(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths in lint's output are relative to the working folder, as users see them."""
    monkeypatch.chdir(ROOT)


@pytest.fixture
def lint(tmp_path: Path) -> Lint:
    """Write an experiment (and its policy files) and lint it against ``mesh`` (default: the demo mesh)."""
    def run(doc: dict[str, Any], *, policies: Mapping[str, Any] | None = None,
            mesh: MeshSnapshot | None = None) -> ExperimentLint:
        for name, content in (policies or {}).items():
            text = content if isinstance(content, str) else yaml.safe_dump_all(
                content if isinstance(content, list) else [content], sort_keys=False)
            (tmp_path / name).write_text(text)
        if policies:
            doc = {**doc, "policies": list(policies)}
        path = tmp_path / "experiment.yaml"
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        (loaded,) = load_experiments([path], check_windows=False)
        return lint_experiment(loaded, mesh or demo())
    return run
