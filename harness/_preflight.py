"""Preflight: everything checked before a run touches the mesh, and what it resolves for the run.

The policies and load profile load, Prometheus and the gateway answer, every permission is granted, each fault
finds its one VirtualService, Alertmanager answers with nothing firing, the scrape interval leaves a window to
judge; then the live mesh is read once, for lint now and for the predictions.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness._target import Target
from harness.alerts import Alertmanager, open_alertmanager, refuse_if_firing
from harness.errors import HarnessError, MetricsError
from harness.experiment import ENVOY_COUNTERS, Experiment, Hypothesis, LoadedExperiment
from harness.experiment._windows import MIN_SCRAPES
from harness.experiment._windows import too_short as hypothesis_too_short
from harness.istio import load_istio, parse_duration_s
from harness.lint import ExperimentLint, Finding, MeshSnapshot, lint_experiment, read_backend_mesh
from harness.load import check_gateway, resolve_locustfile
from harness.mesh import check_permissions, find_virtual_service, run_permissions
from harness.metrics._prometheus import REQUESTS

DEFAULT_SCRAPE_INTERVAL_S = 15.0  # Prometheus's own default, and what most clusters use


@dataclass(frozen=True)
class Preflight:
    """What preflight resolved: the load's locustfile, the policy objects, and the targets to lock."""

    locustfile: Path
    policies: list[dict[str, Any]]
    lock_targets: list[str]
    scrape_interval_s: float = DEFAULT_SCRAPE_INTERVAL_S
    too_short: dict[str, str] = field(default_factory=dict)  # hypothesis name -> why its window cannot be judged
    mesh: MeshSnapshot | None = None  # the live objects as preflight read them (lint and predict use them)
    lint: ExperimentLint | None = None


def preflight(loaded: LoadedExperiment, target: Target) -> Preflight:
    """Everything that can be checked before touching the mesh."""
    exp = loaded.experiment
    here = loaded.path.parent if loaded.path else Path.cwd()
    if exp.failures and target.behaviour is None:
        raise HarnessError(f"{exp.metadata.name}: 'failures' need the sandbox (real failures of demo services)",
                           hint="on a cluster, inject faults on the next hop instead (faults[].scope.sourceLabels)")
    policies = [r.raw for r in load_istio([here / p for p in exp.policies]).resources] if exp.policies else []
    if target.prometheus is not None:
        target.prometheus.check()
    locustfile = resolve_locustfile(exp.load, here)
    check_gateway(target.gateway_url, target.host_header)
    check_permissions(target.backend, run_permissions(exp.target.namespace, has_faults=bool(exp.faults),
                                                      policy_kinds={str(p["kind"]) for p in policies}))
    targets = []
    for fault in exp.faults:
        live = find_virtual_service(target.backend, fault, exp.target.namespace)  # none or several: stops here
        targets.append(live["metadata"]["name"] if live else fault.host.split(".")[0])
    targets += [p["metadata"]["name"] for p in policies if p["kind"] == "VirtualService"]
    check_alerts(alertmanager_of(exp, target), exp, when="at preflight")  # it answers; nothing fires yet
    interval = scrape_interval(exp, target)
    too_short = {h.name: why for h in exp.hypotheses if (why := hypothesis_too_short(h, exp.phases, interval))}
    if exp.hypotheses and len(too_short) == len(exp.hypotheses):
        raise HarnessError(f"{exp.metadata.name}: no hypothesis can be judged at Prometheus's {interval:g} s scrape "
                           f"interval ({'; '.join(too_short.values())}); nothing was injected",
                           hint=f"lengthen the phases to at least {MIN_SCRAPES} scrape intervals, or judge from "
                                "source: client")
    mesh = read_backend_mesh(target.backend, exp.target.namespace, topology=target.topology,
                             description=f"{target.backend.name} {target.backend.context or ''}".strip(),
                             scrape_interval_s=interval)
    return Preflight(locustfile, policies, targets, interval, too_short, mesh, lint_experiment(loaded, mesh))


def scrape_interval(exp: Experiment, target: Target) -> float:
    """The interval verdicts are built on: Prometheus's own targets first, then what the user stated."""
    if target.prometheus is not None:
        names = [REQUESTS] + [f"envoy_cluster_{ENVOY_COUNTERS[h.measure]}" for h in exp.hypotheses
                              if h.source == "mesh" and h.measure in ENVOY_COUNTERS]
        with contextlib.suppress(MetricsError):  # an old Prometheus without the targets API: fall back
            found = target.prometheus.scrape_interval_s(names, time.time())
            if found:
                return found
    if exp.target.scrape_interval:
        return parse_duration_s(exp.target.scrape_interval)
    return target.scrape_interval_s or DEFAULT_SCRAPE_INTERVAL_S


def alertmanager_of(exp: Experiment, target: Target) -> Alertmanager | None:
    """The Alertmanager this experiment's alert guardrails ask (None without any)."""
    return open_alertmanager(exp, given=target.alertmanager_url, default=target.default_alertmanager_url,
                             token=os.environ.get("ALERTMANAGER_TOKEN"))


def check_alerts(alertmanager: Alertmanager | None, exp: Experiment, *, when: str) -> None:
    """Before the fault: Alertmanager answers, and no alert guardrail's alert fires (else nothing is injected).

    Breaking a system that is already alerting is unsafe, and the alert would abort the run at its
    first check anyway; so the run stops before the write, naming the alert.
    """
    if alertmanager is None:
        return
    alertmanager.check()
    refuse_if_firing([g for g in exp.guardrails if not isinstance(g, Hypothesis)], alertmanager, when=when)


def finding_record(finding: Finding) -> dict[str, Any]:
    """A lint finding as the journal keeps it."""
    where = finding.location
    return {"code": finding.code, "severity": finding.severity.value, "message": finding.message,
            "object": finding.object, "fix": finding.suggested_fix, "reference": finding.rule.reference,
            "line": where.line if where is not None else None}
