"""Run one experiment: preflight -> baseline -> inject -> confirm_active -> observe -> revert -> recover -> judge.

Load runs through all phases; phase boundaries are wall-clock timestamps. Every injected fault is
registered on an ExitStack before anything else can fail, so exceptions, Ctrl-C and SIGTERM all
revert it; a ``kill -9`` leaves marks that ``harness cleanup`` restores from.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness._activation import likely_causes, traffic_evidence
from harness.errors import BackendError, HarnessError
from harness.experiment import ENVOY_COUNTERS, Experiment, Failure, Hypothesis, LoadedExperiment
from harness.istio import load_istio, resolve_host
from harness.load import LoadPlan, LoadRun, check_gateway, resolve_locustfile
from harness.mesh import (
    AppliedFault,
    MeshBackend,
    RunLock,
    apply_policy,
    check_permissions,
    find_virtual_service,
    inject,
    is_active,
    restore,
    run_permissions,
    sync_state,
    wait_synced,
)
from harness.metrics import MeshSelector, Prometheus, Window, envoy_cluster_stat, requests
from harness.report import Change, RunResult, report_dir, write_reports
from harness.verdict import Outcome, Timeline, Verdict, evaluate

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
TICK_S = 1.0
GUARDRAIL_EVERY_S = 5.0
PROGRESS_EVERY_S = 5.0
EVIDENCE_MIN_S = 15.0
EVIDENCE_EVERY_S = 2.0
LEASE_RENEW_EVERY_S = 15.0  # a third of the Lease's 60 s, as leader election renews well before expiry


PROXY_STATS_HINT = (
    "Istio does not export Envoy cluster stats by default; enable them with\n"
    "  meshConfig:\n    defaultConfig:\n      proxyStatsMatcher:\n"
    "        inclusionRegexps: [\".*outlier_detection.*\", \".*upstream_rq_retry.*\", "
    "\".*upstream_rq_pending_overflow.*\", \".*circuit_breakers.*\"]\n"
    "(restart the proxies), or judge istio_requests_total instead"
)


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM arrived; faults are reverted on the way out."""


class BehaviourControl(Protocol):
    """Real upstream failures (the sandbox's behaviour knobs)."""

    def snapshot(self) -> object: ...

    def apply(self, failure: Failure) -> None: ...

    def restore(self, snapshot: object) -> None: ...


@dataclass(frozen=True)
class Target:
    """Where an experiment runs: the mesh backend, the gateway, Prometheus."""

    backend: MeshBackend
    gateway_url: str
    prometheus: Prometheus | None
    host_header: str | None = None
    scrape_interval_s: float = 1.0
    owner: str = "harness"
    revert_options: str = ""  # how `harness revert` reaches this backend, for error hints
    behaviour: BehaviourControl | None = None
    propagation_deadline_s: float = 30.0  # istiod push to every proxy; a cluster under load takes seconds


@dataclass(frozen=True)
class RunOptions:
    report_root: Path
    progress: Progress = lambda _: None  # noqa: E731


def new_run_id() -> str:
    return secrets.token_hex(4)


ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # CI cancellation, a closed terminal


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP behave like Ctrl-C; the previous handlers come back afterwards."""
    def on_signal(signum: int, frame: object) -> None:
        raise Interrupted()

    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    previous = {sig: signal.signal(sig, on_signal) for sig in ENDING_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP until the block is done, then raise Interrupted.

    A revert must not stop half-way because the user pressed Ctrl-C again: the second signal is
    noted and acted on once every object is back.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    watched = (signal.SIGINT, *ENDING_SIGNALS)
    previous = {sig: signal.signal(sig, lambda signum, frame: received.append(signum)) for sig in watched}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        raise Interrupted()


@dataclass(frozen=True)
class Preflight:
    """What preflight resolved: the load's locustfile, the policy objects, and the targets to lock."""

    locustfile: Path
    policies: list[dict[str, Any]]
    lock_targets: list[str]


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
    return Preflight(locustfile, policies, targets)


class _Run:
    """The state of one run as it moves through its phases."""

    def __init__(self, loaded: LoadedExperiment, target: Target, options: RunOptions) -> None:
        self.exp: Experiment = loaded.experiment
        self.target = target
        self.say = options.progress
        self.run_id = new_run_id()
        self.folder_root = options.report_root
        self.result = RunResult(self.exp.metadata.name, self.run_id, str(loaded.path or ""),
                                self.exp.model_dump(mode="json", by_alias=True), started_at=time.time())
        self.applied: list[AppliedFault] = []
        self.load: LoadRun | None = None
        self.reverted = False
        self.fault_started: float | None = None
        self.fault_ended: float | None = None
        self.policies: list[AppliedFault] = []
        self.fault_changes: list[Change] = []
        self.behaviour_before: object | None = None
        self.lock: RunLock | None = None
        self.evidence: str | None = None        # what showed the fault in requests
        self.never_observed: str | None = None  # why no request showed it, with the likely causes
        self._last_evidence_check = 0.0
        self._last_renewal = time.monotonic()

    # -- phases ---------------------------------------------------------------------------------

    def start_load(self, locustfile: Path, folder: Path) -> None:
        phases = self.exp.phases
        total = sum(phases.seconds(p) for p in ("baseline", "fault", "recovery")) + 30  # bounded in time
        plan = LoadPlan(self.target.gateway_url, self.target.host_header or self.exp.target.host, self.run_id,
                        self.exp.load, locustfile, total, folder / "samples.csv", folder / "locust.log")
        self.load = LoadRun(plan)  # assigned before starting, so a failed start is still stopped
        self.load.start()

    def apply_policies(self, objects: list[dict[str, Any]]) -> None:
        """The mesh policies under test, in place before the baseline and restored after the recovery."""
        ttl = sum(self.exp.phases.seconds(p) for p in ("baseline", "fault", "recovery")) + 600
        for obj in objects:
            applied = apply_policy(self.target.backend, obj, run_id=self.run_id, owner=self.target.owner, ttl_s=ttl)
            self.policies.append(applied)
            self.result.changes.append(Change(applied.namespace, applied.name, applied.created, applied.before,
                                              applied.after, kind=applied.kind))
        if objects:
            self.say(f"applied {len(objects)} policy object(s) under test")

    def restore_policies(self) -> None:
        with signals_deferred():
            self._restore_policies()

    def _restore_policies(self) -> None:
        changes = {(c.kind, c.namespace, c.name): c for c in self.result.changes}
        for applied in reversed(self.policies):
            outcome = restore(self.target.backend, applied.namespace, applied.name, applied.run_id, kind=applied.kind)
            changes[(applied.kind, applied.namespace, applied.name)].restore = outcome.action
            if outcome.conflict:
                self.result.notes.append(f"{applied.kind} {applied.namespace}/{applied.name}: {outcome.detail}")
        self.policies = []

    def baseline(self) -> None:
        self._phase("baseline", self.exp.phases.seconds("baseline"))

    def check_series(self) -> None:
        """Before injecting: every mesh hypothesis has the series it needs (traffic has flowed by now)."""
        prom = self.target.prometheus
        if prom is None:
            return
        for h in [*self.exp.hypotheses, *self.exp.guardrails]:
            if h.source != "mesh" or h.service is None or h.measure == "promql":
                continue
            if h.measure in ENVOY_COUNTERS:
                query = envoy_cluster_stat(ENVOY_COUNTERS[h.measure], resolve_host(h.service, self.exp.target.namespace),
                                           subset=h.subset, pod=h.source_workload)
                hint = PROXY_STATS_HINT
            else:
                query = requests(MeshSelector(h.service, self.exp.target.namespace, reporter=h.reporter,
                                              source_workload=h.source_workload))
                hint = "check the service name, namespace and sourceWorkload, and that the load reaches it"
            if not prom.instant(f"count({query})", time.time()):
                raise HarnessError(f"hypothesis {h.name!r} needs {query}, which Prometheus does not have; "
                                   "no fault was injected", hint=hint)

    def inject(self) -> None:
        started = time.time()
        ttl = sum(self.exp.phases.seconds(p) for p in ("baseline", "fault", "recovery")) + 600
        for fault in self.exp.faults:
            applied = inject(self.target.backend, fault, namespace=self.exp.target.namespace, run_id=self.run_id,
                             owner=self.target.owner, ttl_s=ttl)
            change = Change(applied.namespace, applied.name, applied.created, applied.before, applied.after)
            self.applied.append(applied)
            self.fault_changes.append(change)
            self.result.changes.append(change)
        if self.exp.failures:
            assert self.target.behaviour is not None
            self.behaviour_before = self.target.behaviour.snapshot()
            for failure in self.exp.failures:
                self.target.behaviour.apply(failure)
        self._confirm_active(started)

    def _confirm_active(self, started: float) -> None:
        if not self.applied:  # only real failures: in effect once the behaviour call returned
            self.fault_started = time.time()
            self.result.activation_latency_s = self.fault_started - started
            return
        for applied in self.applied:
            self._wait_in_data_plane(applied, what="fault")
        now = time.time()
        self.result.activation_latency_s = now - started
        self.fault_started = now
        self.say(f"fault active after {self.result.activation_latency_s * 1000:.0f} ms (run {self.run_id})")

    def _wait_in_data_plane(self, applied: AppliedFault, *, what: str) -> None:
        """Block until istiod reports the written generation in every proxy (Istio config status)."""
        meta = applied.after["metadata"]
        state = wait_synced(self.target.backend, applied.kind, applied.namespace, applied.name,
                            generation=int(meta.get("generation") or 0), deadline_s=self.target.propagation_deadline_s)
        if state is not None:
            return
        current = sync_state(self.target.backend.get_object(applied.kind, applied.namespace, applied.name))
        if current.reconciled is None:  # no status tracking on this cluster: traffic evidence decides later
            note = (f"{applied.kind} {applied.namespace}/{applied.name} carries no Istio config status "
                    f"(PILOT_ENABLE_STATUS off): the {what} is taken as in effect from the API write")
            if note not in self.result.notes:
                self.result.notes.append(note)
            return
        raise HarnessError(f"the {what} on {applied.kind} {applied.namespace}/{applied.name} did not reach the "
                           f"proxies within {self.target.propagation_deadline_s:g} s ({current.message or current.reason})",
                           hint="check istiod (kubectl -n istio-system logs deploy/istiod) and proxy sync "
                                "(istioctl proxy-status)")

    def observe(self) -> None:
        """The fault phase: watch that our routes stay, evaluate guardrails, report progress."""
        duration = self.exp.phases.seconds("fault")
        end = time.monotonic() + duration
        next_guard = time.monotonic() + GUARDRAIL_EVERY_S
        while time.monotonic() < end:
            self._tick("fault", end)
            if self.result.fault_lost_at is None and not all(is_active(self.target.backend, a) for a in self.applied):
                self.result.fault_lost_at = time.time()
                self.result.notes.append("the fault was removed by someone else during the fault phase; "
                                         "verdicts use only the time before that")
                self.say("fault NOT ACTIVE any more: someone else changed the VirtualService")
            if self.exp.guardrails and time.monotonic() >= next_guard:
                next_guard = time.monotonic() + GUARDRAIL_EVERY_S
                if self._guardrail_breached():
                    return
            if self._fault_never_observed():
                return

    def _evidence_deadline_s(self) -> float:
        """How long after activation requests must show the fault: three scrapes and the exporter's lag."""
        return max(EVIDENCE_MIN_S, 3 * self.target.scrape_interval_s + 5)

    def _fault_never_observed(self, *, final: bool = False) -> bool:
        """Look for traffic evidence; past the deadline (or at the end) without any, revert early: nothing to judge."""
        if not self.applied or self.evidence is not None or self.fault_started is None:
            return False
        now = time.time()
        if not final and now - self._last_evidence_check < EVIDENCE_EVERY_S:
            return False
        self._last_evidence_check = now
        found = traffic_evidence([a.fault for a in self.applied if a.fault is not None], self.exp.target.namespace,
                                 prometheus=self.target.prometheus, samples=self.samples(),
                                 since=self.fault_started, now=now)
        if found.seen:
            self.evidence = found.detail
            self.say(f"fault seen in the data plane: {found.detail}")
            return False
        if not final and now - self.fault_started < self._evidence_deadline_s():
            return False
        causes = likely_causes(self.target.backend, [a.fault for a in self.applied if a.fault is not None],
                               self.exp.target.namespace)
        self.never_observed = f"fault never observed in the data plane ({found.detail}); likely causes: " + "; ".join(causes)
        self.result.notes.append(self.never_observed)
        self.say("FAULT NEVER OBSERVED in the data plane: reverting, verdicts will be INCONCLUSIVE")
        return True

    def revert(self) -> None:
        with signals_deferred():
            self._revert()

    def _revert(self) -> None:
        if self.reverted:  # set only once everything is back: a revert interrupted half-way runs again
            return
        if self.behaviour_before is not None and self.target.behaviour is not None:
            self.target.behaviour.restore(self.behaviour_before)
        failed = []
        written = []
        for applied, change in zip(reversed(self.applied), reversed(self.fault_changes), strict=True):
            try:
                outcome = restore(self.target.backend, applied.namespace, applied.name, applied.run_id,
                                  fault_only=True)
            except BackendError as exc:
                change.restore = f"FAILED: {exc.message}"
                failed.append(applied)
                continue
            change.restore = outcome.action
            if outcome.written is not None:
                written.append(AppliedFault(applied.namespace, applied.name, applied.run_id, False, None,
                                            outcome.written, applied.kind))
            if outcome.conflict:
                self.result.notes.append(f"{applied.namespace}/{applied.name}: {outcome.detail}")
        if failed:
            namespaces = sorted({a.namespace for a in failed})
            command = f"harness revert {self.run_id} {self.target.revert_options}".strip()
            raise HarnessError(f"could not restore {', '.join(f'{a.namespace}/{a.name}' for a in failed)} "
                               f"(namespace {', '.join(namespaces)}); the fault is still in place",
                               hint=f"finish it with: {command}")
        self.reverted = True
        for restored in written:  # the fault ends when the proxies have the original back, not at the write
            try:
                self._wait_in_data_plane(restored, what="revert")
            except HarnessError as exc:
                self.result.notes.append(f"revert written but not confirmed in the data plane: {exc.message}")
        self.fault_ended = time.time()
        if self.fault_started is not None:
            self.result.fault_active = (self.fault_started, self.fault_ended)
            self.result.phases["fault"] = (self.fault_started, self.fault_ended)
        if self.applied or self.behaviour_before is not None:
            self.say("fault reverted")

    def recover(self) -> None:
        self._phase("recovery", self.exp.phases.seconds("recovery"))

    def stop_load(self) -> None:
        if self.load is not None:
            self.load.stop()

    def judge(self) -> None:
        settle = 2 * self.target.scrape_interval_s + 0.5
        wait = self.result.phases.get("recovery", (0, time.time()))[1] + settle - time.time()
        if wait > 0 and self.target.prometheus is not None and any(h.source == "mesh" for h in self.exp.hypotheses):
            time.sleep(wait)  # the last scrape must cover the end of the recovery window
        timeline = self._timeline()
        samples = self.samples()
        self.result.load_summary = summarise(samples, self.result.phases)
        if self.never_observed is None and self.evidence is None and self.applied:
            self._fault_never_observed(final=True)  # the last scrapes are in by now
        if self.never_observed is not None:  # nothing was tested: no verdict may say otherwise
            self.result.verdicts = [unobserved(h, self.never_observed) for h in self.exp.hypotheses]
            return
        self.result.verdicts = [self._evaluate(h, samples, timeline) for h in self.exp.hypotheses]

    # -- helpers --------------------------------------------------------------------------------

    def samples(self):  # type: ignore[no-untyped-def]
        import pandas as pd

        return self.load.samples() if self.load else pd.DataFrame(columns=["t", "cohort", "outcome", "latency_ms"])

    def _evaluate(self, h: Hypothesis, samples: object, timeline: Timeline) -> Verdict:
        return evaluate(h, samples=samples, timeline=timeline, prometheus=self.target.prometheus,  # type: ignore[arg-type]
                        namespace=self.exp.target.namespace)

    def _timeline(self, *, fault_end: float | None = None) -> Timeline:
        phases = {name: Window(*span) for name, span in self.result.phases.items()}
        active = self.result.fault_active
        if active is None and self.fault_started is not None:
            active = (self.fault_started, fault_end or time.time())
        return Timeline(phases, Window(*active) if active else None, self.result.fault_lost_at,
                        self.target.scrape_interval_s)

    def _guardrail_breached(self) -> bool:
        timeline = self._timeline(fault_end=time.time())
        samples = self.samples()
        verdicts = [self._evaluate(g, samples, timeline) for g in self.exp.guardrails]
        breached = [v for v in verdicts if v.outcome is Outcome.FAIL]
        if breached:
            self.result.guardrails = verdicts
            self.result.status = "aborted"
            self.result.notes.append("guardrail breached: " + "; ".join(v.name for v in breached))
            self.say(f"GUARDRAIL BREACHED ({', '.join(v.name for v in breached)}): reverting early")
        return bool(breached)

    def _phase(self, name: str, seconds: float) -> None:
        start = time.time()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._tick(name, end)
        self.result.phases[name] = (start, time.time())

    def _tick(self, phase: str, end: float) -> None:
        if self.load is not None and not self.load.is_alive():
            raise HarnessError(f"the load generator stopped unexpectedly:\n{self.load.output_tail()}")
        time.sleep(min(TICK_S, max(0.0, end - time.monotonic())))
        now = time.monotonic()
        if self.lock is not None and now - self._last_renewal >= LEASE_RENEW_EVERY_S:
            self._last_renewal = now
            self.lock.renew()
        if now - getattr(self, "_last_progress", 0.0) >= PROGRESS_EVERY_S or now >= end:
            self._last_progress = now
            self.say(self._progress_line(phase, end - now))

    def _progress_line(self, phase: str, left_s: float) -> str:
        samples = self.samples()
        recent = samples[samples["t"] >= time.time() - PROGRESS_EVERY_S] if len(samples) else samples
        rate = len(recent) / PROGRESS_EVERY_S
        errors = (recent["outcome"] != "ok").mean() * 100 if len(recent) else 0.0
        injected = bool(self.applied) or self.behaviour_before is not None
        active = "yes" if injected and not self.reverted and self.result.fault_lost_at is None else "no"
        return f"{phase:9} {max(0.0, left_s):5.0f}s left  {rate:7.1f} req/s  errors {errors:5.1f}%  fault active: {active}"


def unobserved(h: Hypothesis, reason: str) -> Verdict:
    """The verdict of a hypothesis whose fault no request ever met."""
    return Verdict(h.name, Outcome.INCONCLUSIVE, reason, measure=h.measure, source=h.source, phase=h.phase,
                   cohort=h.cohort)


def summarise(samples: Any, phases: dict[str, tuple[float, float]]) -> dict[str, Any]:
    """Requests, errors and latency per phase and cohort: the data summary kept in the journal."""
    summary: dict[str, Any] = {}
    for phase, (start, end) in phases.items():
        inside = samples[(samples["t"] >= start) & (samples["t"] < end)]
        for cohort, rows in inside.groupby("cohort"):
            latency = rows["latency_ms"]
            summary[f"{phase}/{cohort}"] = {
                "requests": int(len(rows)), "errors": int((rows["outcome"] != "ok").sum()),
                "requests_per_s": round(len(rows) / max(end - start, 1e-9), 2),
                "outcomes": {str(k): int(v) for k, v in rows["outcome"].value_counts().items()},
                "latency_ms": {q: round(float(latency.quantile(p)), 3) for q, p in
                               (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))},
            }
    return summary


def run_experiment(loaded: LoadedExperiment, target: Target, options: RunOptions) -> tuple[RunResult, Path]:
    """Run every phase; faults are reverted whatever happens. Returns the result and its report folder."""
    checked = preflight(loaded, target)
    run = _Run(loaded, target, options)
    folder = report_dir(options.report_root, run.result)
    folder.mkdir(parents=True, exist_ok=True)
    options.progress(f"running {run.result.name} (run {run.run_id}); report: {folder}")
    try:
        with signals_interrupt(), contextlib.ExitStack() as stack:
            run.lock = RunLock(target.backend, run.exp.target.namespace, checked.lock_targets, run_id=run.run_id,
                               owner=target.owner)
            run.lock.acquire()  # before anything changes: a second run on these targets stops here
            stack.callback(run.lock.release)
            stack.callback(run.restore_policies)
            run.apply_policies(checked.policies)
            stack.callback(run.stop_load)
            run.start_load(checked.locustfile, folder)
            run.baseline()
            run.check_series()
            stack.callback(run.revert)  # registered before the first write: any failure reverts
            run.inject()
            run.observe()
            run.revert()
            run.recover()
            run.stop_load()
            run.restore_policies()
        run.judge()
        if run.result.status == "running":
            run.result.status = "completed"
    except Interrupted:
        run.result.status, run.result.error = "interrupted", "interrupted by Ctrl-C or SIGTERM; faults were reverted"
    except KeyboardInterrupt:
        run.result.status, run.result.error = "interrupted", "interrupted by Ctrl-C; faults were reverted"
    except HarnessError as exc:
        run.result.status, run.result.error = "error", str(exc)
    finally:
        run.result.ended_at = time.time()
        write_reports(run.result, run.samples(), folder)
    return run.result, folder
