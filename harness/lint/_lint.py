"""Lint experiments: read each one, its policies and the mesh it will touch, then run every family of checks."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

from harness.experiment import LoadedExperiment, load_experiments
from harness.istio import LoadedResource, load_istio
from harness.lint._checks_dataplane import check_dataplane
from harness.lint._checks_faults import check_faults
from harness.lint._checks_outlier import check_outlier
from harness.lint._checks_path import check_path
from harness.lint._checks_routes import check_routes
from harness.lint._checks_windows import check_windows
from harness.lint._context import LintContext
from harness.lint._findings import ExperimentLint, Finding, LintReport
from harness.lint._sources import MeshOptions, MeshSnapshot, read_mesh
from harness.lint._view import build_view

Check = Callable[[LintContext], list[Finding]]
CHECKS: tuple[Check, ...] = (check_routes, check_outlier, check_path, check_faults, check_windows, check_dataplane)


def lint_paths(paths: Sequence[Path], options: MeshOptions | None = None) -> LintReport:
    """Lint every experiment under ``paths``; each target mesh (backend, namespace) is read once."""
    options = options or MeshOptions()
    snapshots: dict[tuple[str, str, str | None], MeshSnapshot] = {}
    results = []
    for loaded in load_experiments(paths, check_windows=False):  # too-short windows become findings (HL501)
        target = loaded.experiment.target
        key = (options.backend or target.backend, target.namespace, options.context or target.context)
        if key not in snapshots:
            snapshots[key] = read_mesh(key[0], key[1], replace(options, context=key[2]))
        results.append(lint_experiment(loaded, snapshots[key]))
    return LintReport(tuple(results))


def lint_experiment(loaded: LoadedExperiment, snapshot: MeshSnapshot) -> ExperimentLint:
    """Every finding for one experiment against one picture of the mesh."""
    view = build_view(loaded, snapshot.live, policies_of(loaded), topology=snapshot.topology)
    ctx = LintContext(loaded, view, snapshot.scrape_interval_s)
    findings = _unique([finding for check in CHECKS for finding in check(ctx)])
    notes = list(snapshot.notes) + list(view.notes)
    if snapshot.live is not None and not view.chains:
        notes.append("the gateway has no route for the load's requests: the checks that follow calls were skipped")
    return ExperimentLint(loaded.experiment.metadata.name, loaded.source.locate(("metadata", "name")),
                          snapshot.description, tuple(findings), tuple(notes))


def policies_of(loaded: LoadedExperiment) -> list[LoadedResource]:
    """The Istio objects under ``policies:``, relative to the experiment file, as ``harness run`` applies them."""
    exp = loaded.experiment
    if not exp.policies:
        return []
    here = loaded.path.parent if loaded.path is not None else Path.cwd()
    return load_istio([here / p for p in exp.policies]).resources


def _unique(findings: list[Finding]) -> list[Finding]:
    seen, kept = set(), []
    for finding in findings:
        key = (finding.code, finding.message, str(finding.location))
        if key not in seen:
            seen.add(key)
            kept.append(finding)
    return kept
