"""Run experiments one after another against one target, and score the suite."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness._exitcodes import ExitCode
from harness.alerts import alert_guardrails
from harness.errors import HarnessError
from harness.experiment import Failure, LoadedExperiment, Notify, load_experiments
from harness.istio import load_istio
from harness.istio._merge import merge_fault, new_virtual_service_spec
from harness.mesh import KubernetesBackend, MemoryBackend, find_virtual_service
from harness.metrics import MeshSelector, requests, server_errors, with_flag
from harness.report import RunResult, RunStatus, write_junit
from harness.report._write import spec_diff
from harness.runner import Progress, RunOptions, Target, run_experiment
from harness.verdict import Outcome


@dataclass
class SuiteResult:
    runs: list[tuple[RunResult, Path]] = field(default_factory=list)

    @property
    def score(self) -> float:
        """Share of hypotheses that passed, in percent (the suite's resilience score)."""
        verdicts = [v for result, _ in self.runs for v in result.verdicts]
        return 100.0 * sum(v.outcome is Outcome.PASS for v in verdicts) / len(verdicts) if verdicts else 0.0

    def exit_code(self, *, inconclusive_fails: bool = False) -> ExitCode:
        statuses = {r.status for r, _ in self.runs}
        outcomes = {r.outcome for r, _ in self.runs}
        if RunStatus.INTERRUPTED in statuses:
            return ExitCode.INTERRUPTED
        if RunStatus.ERROR in statuses:
            return ExitCode.INVALID
        if RunStatus.ABORTED in statuses:
            return ExitCode.ABORTED
        if Outcome.FAIL in outcomes:
            return ExitCode.FAILED
        if Outcome.INCONCLUSIVE in outcomes:
            return ExitCode.FAILED if inconclusive_fails else ExitCode.INCONCLUSIVE
        return ExitCode.OK


@dataclass(frozen=True)
class TargetOptions:
    """Command-line overrides for where experiments run."""

    sandbox_start: bool = False
    state_dir: Path | None = None
    context: str | None = None
    kubeconfig: Path | None = None
    gateway_url: str | None = None
    prometheus_url: str | None = None
    allow_production: bool = False
    allowed_namespaces: tuple[str, ...] = ()
    sandbox_scrape_interval_s: float = 1.0
    alertmanager_url: str | None = None  # --alertmanager-url: beats each experiment's target.alertmanagerUrl


class SandboxBehaviour:
    """Real failures through the demo services' behaviour knobs, put back exactly afterwards."""

    def __init__(self, sandbox: Any) -> None:
        self._control = sandbox.control

    def snapshot(self) -> object:
        return self._control.snapshot()

    def apply(self, failure: Failure) -> None:
        self._control.set_behaviour(failure.service, version=failure.version, replica=failure.replica,
                                    latency_ms=failure.latency_ms, error_rate=failure.error_rate,
                                    error_status=failure.error_status)

    def restore(self, snapshot: object) -> None:
        self._control.restore(snapshot)  # type: ignore[arg-type]


@contextlib.contextmanager
def sandbox_target(state_dir: Path | None, *, start: bool, progress: Progress, scrape_interval_s: float = 1.0,
                   alertmanager: bool = False, alertmanager_url: str | None = None) -> Iterator[Target]:
    """Attach to the running sandbox, or start one (and stop it afterwards) when ``start`` is set.

    ``alertmanager``: a sandbox started here runs one (alert guardrails ask it); ``alertmanager_url``
    (--alertmanager-url) is used instead of the sandbox's own.
    """
    from harness.errors import SandboxNotRunning
    from harness.metrics import Prometheus
    from harness.sandbox import Sandbox

    owned = None
    try:
        sandbox = Sandbox.attach(state_dir)
    except SandboxNotRunning:
        if not start:
            raise
        progress("starting the embedded sandbox")
        sandbox = owned = Sandbox.start(state_dir=state_dir, progress=progress, scrape_interval_s=scrape_interval_s,
                                        alertmanager=alertmanager)
    revert = f"--state-dir {sandbox.state_dir}"
    try:
        backend = KubernetesBackend(context=sandbox.harness_context, config_file=str(sandbox.kubeconfig_path))
        yield Target(backend, sandbox.gateway_url, Prometheus(sandbox.prometheus_url),
                     scrape_interval_s=sandbox.scrape_interval_s, revert_options=revert,
                     behaviour=SandboxBehaviour(sandbox), topology=sandbox.topology, alertmanager_url=alertmanager_url,
                     default_alertmanager_url=sandbox.alertmanager_url or os.environ.get("ALERTMANAGER_URL"))
    finally:
        if owned is not None:
            progress("stopping the embedded sandbox")
            owned.stop()


@contextlib.contextmanager
def open_target(experiments: Sequence[LoadedExperiment], options: TargetOptions, progress: Progress
                ) -> Iterator[Target]:
    """The target every experiment of a run shares: the sandbox, or a cluster with its Prometheus."""
    backends = {e.experiment.target.backend for e in experiments}
    if len(backends) > 1:
        raise HarnessError("experiments in one run must use one backend; run sandbox and kubernetes separately")
    if backends == {"sandbox"}:
        with sandbox_target(options.state_dir, start=options.sandbox_start, progress=progress,
                            scrape_interval_s=options.sandbox_scrape_interval_s,
                            alertmanager=any(alert_guardrails(e.experiment.guardrails) for e in experiments),
                            alertmanager_url=options.alertmanager_url) as target:
            yield target
        return
    yield _kubernetes_target(experiments, options)


def _kubernetes_target(experiments: Sequence[LoadedExperiment], options: TargetOptions) -> Target:
    import os

    from harness.mesh import check_target, open_backend
    from harness.metrics import Prometheus

    first = experiments[0].experiment.target
    context = options.context or first.context
    gateway = options.gateway_url or first.gateway_url
    prometheus = options.prometheus_url or first.prometheus_url or os.environ.get("PROMETHEUS_URL")
    if not gateway:
        raise HarnessError("no gateway URL for the kubernetes backend",
                           hint="set target.gatewayUrl in the experiment or pass --gateway-url")
    if not prometheus:
        raise HarnessError("no Prometheus URL for the kubernetes backend",
                           hint="set target.prometheusUrl, PROMETHEUS_URL, or pass --prometheus-url")
    backend = open_backend("kubernetes", context=context, kubeconfig=options.kubeconfig)
    for loaded in experiments:  # the effective context: given, or the kubeconfig's current one
        check_target(loaded.experiment.target.namespace, backend.context,
                     allowed=list(options.allowed_namespaces) or None, allow_production=options.allow_production)
    revert = ("--backend kubernetes" + (f" --context {backend.context}" if backend.context != "in-cluster" else "")
              + (f" --kubeconfig {options.kubeconfig}" if options.kubeconfig else ""))  # the hint must reach this cluster
    return Target(backend, gateway, Prometheus(prometheus), host_header=first.host, revert_options=revert,
                  alertmanager_url=options.alertmanager_url, default_alertmanager_url=os.environ.get("ALERTMANAGER_URL"))


def run_suite(paths: Sequence[Path], target: Target, *, report_root: Path, progress: Progress,
              junit: Path | None = None, inconclusive_fails: bool = False, notify: Notify | None = None) -> SuiteResult:
    """Run each experiment in turn; ``notify``: receivers told about every run, besides each experiment's own."""
    experiments = load_experiments(paths)
    suite = SuiteResult()
    options = RunOptions(report_root, progress, notify)
    for index, loaded in enumerate(experiments):
        if index:
            settle = loaded.experiment.phases.seconds("settle")
            progress(f"settling {settle:g}s before the next experiment")
            time.sleep(settle)
        result, folder = run_experiment(loaded, target, options)
        suite.runs.append((result, folder))
        if result.status == RunStatus.INTERRUPTED:
            break
    if junit is not None:
        write_junit([r for r, _ in suite.runs], junit, inconclusive_fails=inconclusive_fails)
    if len(suite.runs) > 1:
        (report_root / "suite.json").write_text(json.dumps({
            "score": suite.score, "runs": [{"name": r.name, "outcome": r.outcome.value, "status": r.status,
                                            "report": str(f)} for r, f in suite.runs]}, indent=2))
    return suite


def dry_run(paths: Sequence[Path], backend_objects: list[dict[str, object]] | None = None,
            target: Target | None = None) -> str:
    """Validate, resolve and describe the exact VirtualService changes and queries; touch nothing."""
    lines = []
    backend = target.backend if target else MemoryBackend(backend_objects or [])  # type: ignore[arg-type]
    for loaded in load_experiments(paths):
        exp = loaded.experiment
        lines.append(f"== {exp.metadata.name} ({loaded.path}) on {backend.name}")
        for fault in exp.faults:
            live = find_virtual_service(backend, fault, exp.target.namespace)
            run_id = "<run-id>"
            if live is None:
                after = {"spec": new_virtual_service_spec(fault.host, fault, run_id)}
                lines.append(f"-- would create a VirtualService for {fault.host}:")
                lines.append(spec_diff(None, after))
            else:
                after = {"spec": merge_fault(live["spec"], fault, run_id)}
                lines.append(f"-- would change VirtualService {live['metadata']['namespace']}/{live['metadata']['name']}:")
                lines.append(spec_diff(live, after))
        for h in exp.hypotheses:
            if h.source == "mesh" and h.service:
                sel = MeshSelector(h.service, exp.target.namespace, source_workload=h.source_workload)
                hit = with_flag(sel, h.flag or "") if h.measure == "flag_rate" else server_errors(sel)
                lines.append(f"-- {h.name}: {h.measure} in {h.phase}: {hit} / {requests(sel)}")
            else:
                lines.append(f"-- {h.name}: {h.measure} of the {h.cohort} cohort in {h.phase} (client record)")
    return "\n".join(lines)


def demo_mesh_objects() -> list[dict[str, object]]:
    """The sandbox's default Istio objects, for a dry run when no sandbox runs."""
    from harness.sandbox import DEFAULT_MESH

    try:
        return [r.raw for r in load_istio([DEFAULT_MESH]).resources if r.obj.kind == "VirtualService"]
    except HarnessError:
        return []
