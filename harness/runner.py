"""Run one experiment: preflight -> baseline -> inject -> confirm_active -> observe -> revert -> recover -> judge.

Load runs through all phases; phase boundaries are wall-clock timestamps. Every injected fault is
registered on an ExitStack before anything else can fail, so exceptions, Ctrl-C and SIGTERM all
revert it; a ``kill -9`` leaves marks that ``harness cleanup`` restores from.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness._activation import likely_causes, traffic_evidence
from harness._changes import ChangeLedger
from harness._preflight import (
    DEFAULT_SCRAPE_INTERVAL_S,
    alertmanager_of,
    check_alerts,
    finding_record,
    preflight,
)
from harness._signals import Interrupted, signals_deferred, signals_interrupt
from harness._target import Target
from harness.alerts import ALERT_SOURCE, judge_alert
from harness.errors import HarnessError
from harness.experiment import ENVOY_COUNTERS, Experiment, Hypothesis, LoadedExperiment, Notify
from harness.istio import resolve_host
from harness.lint import ExperimentLint, MeshSnapshot, Severity
from harness.load import (
    LoadHealth,
    LoadPlan,
    LoadRun,
    check_load_health,
    cohorts_used,
    progress_line,
)
from harness.load._progress import TAIL_S as PROGRESS_TAIL_S
from harness.mesh import (
    AppliedFault,
    RunLock,
    apply_policy,
    inject,
    is_active,
    sync_state,
    wait_synced,
)
from harness.metrics import MeshSelector, Window, envoy_cluster_stat, requests
from harness.notify import RunInfo, open_notifier
from harness.predict import Prediction, safely_predicted, with_prediction
from harness.report import QueryRecord, RunResult, RunStatus, collect_mesh_series, report_dir, write_reports
from harness.verdict import Outcome, Timeline, Verdict, evaluate
from harness.verdict._mesh import EXPORT_LAG_S

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


@dataclass(frozen=True)
class RunOptions:
    report_root: Path
    progress: Progress = lambda _: None  # noqa: E731
    notify: Notify | None = None  # a suite's receivers: told about every run, besides the experiment's own


def new_run_id() -> str:
    return secrets.token_hex(4)


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
        self.revert_started: float | None = None
        finish = f"harness cleanup --run {self.run_id} {target.revert_options}".strip()
        self.changes = ChangeLedger(target.backend, self.run_id, finish_command=finish, notes=self.result.notes)
        self.behaviour_before: object | None = None
        self.lock: RunLock | None = None
        self.evidence: str | None = None        # what showed the fault in requests
        self.never_observed: str | None = None  # why no request showed it, with the likely causes
        self._last_evidence_check = 0.0
        self._workers_lost_said = 0  # Locust workers lost so far, as last told to the user
        self.scrape_interval_s = target.scrape_interval_s or DEFAULT_SCRAPE_INTERVAL_S  # preflight reads the real one
        self.too_short: dict[str, str] = {}  # hypotheses whose windows the scrape interval cannot fill
        self._last_renewal = time.monotonic()
        self.sending_since: float | None = None  # every user running: the progress line's rates start here
        self.mesh_series: Any = None  # the report's mesh plot data (a pandas frame), fetched at judge time
        self.result.prometheus_url = target.prometheus.url if target.prometheus is not None else None
        self.alertmanager = alertmanager_of(self.exp, target)  # alert guardrails ask it; preflight checked it answers
        self.predictions: dict[str, Prediction] = {}  # hypothesis name -> what the semantics predict (preflight)
        self.notifier = open_notifier(self.exp.notify.joined(options.notify),
                                      RunInfo.of(self.exp, self.run_id, report_dir(options.report_root, self.result)))

    def predict(self, loaded: LoadedExperiment, mesh: MeshSnapshot | None) -> None:
        """What the semantics predict for each hypothesis, from the mesh preflight read (never fails the run)."""
        found, failed = safely_predicted(loaded, mesh)
        self.predictions = {p.hypothesis: p for p in found}
        if failed:
            self.result.notes.append(failed)
            self.say(failed)
        for p in found:
            if p.meets_bound is False:
                self.say(f"predicted to FAIL: {p.hypothesis}: {p.measure} predicted {p.describe()}, bound {p.bound}")

    def tell_lint(self, lint: ExperimentLint) -> None:
        """Lint's errors and warnings before anything changes: why the run may fail, known before it starts."""
        self.result.lint = [finding_record(f) for f in lint.sorted_findings()]
        for finding in lint.sorted_findings():
            if finding.severity is not Severity.INFO:  # info (e.g. short windows) is said elsewhere or not needed
                self.say(f"lint {finding.code} {finding.severity.value}: {finding.message}")

    # -- phases ---------------------------------------------------------------------------------

    def start_load(self, locustfile: Path, folder: Path) -> None:
        phases = self.exp.phases
        spawning = self.exp.load.users / self.exp.load.spawn_rate
        total = sum(phases.seconds(p) for p in ("baseline", "fault", "recovery")) + spawning + 30  # bounded in time
        plan = LoadPlan(self.target.gateway_url, self.target.host_header or self.exp.target.host, self.run_id,
                        self.exp.load, locustfile, total, folder / "samples.csv", folder / "locust.log")
        self.load = LoadRun(plan)  # assigned before starting, so a failed start is still stopped
        self.load.start()
        waited = self.load.wait_until_sending()  # the baseline measures the full load, not Locust starting up
        self.sending_since = time.time()
        self.say(f"load running: {self.exp.load.users} users after {waited:.1f} s")

    def apply_policies(self, objects: list[dict[str, Any]]) -> None:
        """The mesh policies under test, in place before the baseline and restored after the recovery."""
        ttl = sum(self.exp.phases.seconds(p) for p in ("baseline", "fault", "recovery")) + 600
        for obj in objects:
            applied = apply_policy(self.target.backend, obj, run_id=self.run_id, owner=self.target.owner, ttl_s=ttl)
            self.result.changes.append(self.changes.policy_applied(applied))
        if objects:
            self.say(f"applied {len(objects)} policy object(s) under test")

    def restore_policies(self) -> None:
        with signals_deferred():  # a second Ctrl-C waits until every policy object is back
            self.changes.restore_policies()

    def baseline(self) -> None:
        self._phase("baseline", self.exp.phases.seconds("baseline"))

    def check_series(self) -> None:
        """Before injecting: every mesh hypothesis has the series it needs (traffic has flowed by now)."""
        prom = self.target.prometheus
        if prom is None:
            return
        for h in [*self.exp.hypotheses, *(g for g in self.exp.guardrails if isinstance(g, Hypothesis))]:
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
            self.applied.append(applied)
            self.result.changes.append(self.changes.fault_injected(applied))
        if self.exp.failures:
            assert self.target.behaviour is not None
            self.behaviour_before = self.target.behaviour.snapshot()
            for failure in self.exp.failures:
                self.target.behaviour.apply(failure)
        self._confirm_active(started)

    def _confirm_active(self, started: float) -> None:
        for applied in self.applied:  # real failures alone are in effect once the behaviour call returned
            self._wait_in_data_plane(applied, what="fault")
        now = time.time()
        self.result.activation_latency_s = now - started
        self.fault_started = now
        self.notifier.fault_started(now, self.result.activation_latency_s)
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
        return max(EVIDENCE_MIN_S, 3 * self.scrape_interval_s + 5)

    def _fault_never_observed(self, *, final: bool = False) -> bool:
        """Look for traffic evidence; past the deadline (or at the end) without any, revert early: nothing to judge."""
        if not self.applied or self.evidence is not None or self.fault_started is None:
            return False
        now = time.time()
        if not final and now - self._last_evidence_check < EVIDENCE_EVERY_S:
            return False
        self._last_evidence_check = now
        found = traffic_evidence([a.fault for a in self.applied if a.fault is not None], self.exp.target.namespace,
                                 prometheus=self.target.prometheus, samples=self.samples(since=self.fault_started),
                                 since=self.fault_started, now=now, interval_s=self.scrape_interval_s)
        if found.seen:
            self.evidence = found.detail
            self.result.fault_evidence = found.detail
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
        self.revert_started = self.revert_started or time.time()  # from here on, not every fault is in place
        if self.behaviour_before is not None and self.target.behaviour is not None:
            self.target.behaviour.restore(self.behaviour_before)
        written = self.changes.take_faults_out()  # raises, naming what is left, unless every fault is out (read back)
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
            self.notifier.fault_ended(self.fault_started, self.fault_ended)
        if self.applied or self.behaviour_before is not None:
            self.say("fault reverted")

    def account_for_changes(self, namespaces: set[str]) -> None:
        """The run's last word on the cluster, read back from the API: "reverted" only when nothing of it is left."""
        clean, word = self.changes.closing_word(namespaces)
        if clean and self.result.status in (RunStatus.COMPLETED, RunStatus.ABORTED):  # ended as planned: nothing to add
            return
        if not clean:
            self.say(word)
            if self.result.status != RunStatus.INTERRUPTED:  # an interrupted suite must still stop: it stays
                self.result.status = RunStatus.ERROR
        error = self.result.error
        separator = "\n" if error and "\n" in error else "; "  # a multi-line error gets its own line for this
        self.result.error = word if not error else error + separator + word

    def close_notifications(self) -> None:
        """Tell the receivers how the run ended and note what did not reach them; waits at most a few seconds."""
        self.notifier.run_finished(self.result)
        try:
            with signals_deferred():  # the wait is short, and the reports are still to be written
                self.result.notes += self.notifier.close()
        except Interrupted:  # the user meant to stop the suite: this run's record stays, the next one does not start
            self.result.status = RunStatus.INTERRUPTED
            self.result.error = self.result.error or "interrupted by Ctrl-C, SIGTERM or SIGHUP while notifying"

    def recover(self) -> None:
        self._phase("recovery", self.exp.phases.seconds("recovery"))

    def stop_load(self) -> None:
        if self.load is not None:
            self.load.stop()

    def judge(self) -> None:
        wait = self._scrapes_needed_at() - time.time()
        if wait > 0 and self.target.prometheus is not None:
            self.say(f"waiting {wait:.0f}s for Prometheus's scrapes after the judged windows")
            time.sleep(wait)
        timeline = self._timeline()
        samples = self.samples()
        self._collect_mesh_series()  # the plots show the run even when no verdict could be earned
        health = self._load_health(samples)
        self.result.load_summary = {**summarise(samples, self.result.phases), "load": health.summary()}
        self.result.notes += [f"load did not hold: {reason}" for reason in health.reasons]
        self.say(health.line())
        if self.never_observed is None and self.evidence is None and self.applied:
            self._fault_never_observed(final=True)  # the last scrapes are in by now
        if self.never_observed is not None:  # nothing was tested: no verdict may say otherwise
            self.result.verdicts = self._predicted([unobserved(h, self.never_observed) for h in self.exp.hypotheses])
            return
        if not health.held:  # the run tested less than the experiment says: neither PASS nor FAIL is earned
            reason = "load did not hold: " + "; ".join(health.reasons)
            self.result.verdicts = self._predicted([unobserved(h, reason) for h in self.exp.hypotheses])
            return
        self.result.verdicts = self._predicted([self._judged(h, samples, timeline) for h in self.exp.hypotheses])

    # -- helpers --------------------------------------------------------------------------------

    def _predicted(self, verdicts: list[Verdict]) -> list[Verdict]:
        """Each verdict with its prediction beside it (judged on it for ``expect: predicted``)."""
        return [with_prediction(v, self.predictions.get(h.name), h) for v, h in
                zip(verdicts, self.exp.hypotheses, strict=True)]

    def _judged(self, h: Hypothesis, samples: object, timeline: Timeline) -> Verdict:
        """Judge ``h``, keeping every Prometheus query it sent (as sent) for the report."""
        prom = self.target.prometheus
        if prom is None or h.source != "mesh":
            return self._evaluate(h, samples, timeline)
        with prom.recording() as sent:
            verdict = self._evaluate(h, samples, timeline)
        self.result.queries += [QueryRecord(h.name, "verdict", q) for q in sent]
        return verdict

    def _collect_mesh_series(self) -> None:
        """The mesh hypotheses' series over the whole run, for the report's plots (and their queries, as sent)."""
        prom, phases = self.target.prometheus, self.result.phases
        if prom is None or "baseline" not in phases or not any(h.source == "mesh" for h in self.exp.hypotheses):
            return
        span = Window(phases["baseline"][0], max(end for _, end in phases.values()))
        collected = collect_mesh_series(self.exp.hypotheses, prom, span, step_s=self.scrape_interval_s,
                                        namespace=self.exp.target.namespace)
        self.mesh_series = collected.frame
        self.result.queries += collected.queries
        self.result.notes += collected.notes

    def _scrapes_needed_at(self) -> float:
        """When Prometheus holds every scrape the mesh verdicts count on.

        Requests are counted up to the last scrape inside a window, which exists once the window
        ends and the exporter's lag has passed; event counters up to the first scrape after it.
        Hypotheses too short to judge need nothing, and a run without mesh hypotheses waits for nothing.
        """
        ends = {"baseline": self.result.phases.get("baseline", (0.0, 0.0))[1], "fault": self.fault_ended or 0.0,
                "recovery": self.result.phases.get("recovery", (0.0, time.time()))[1]}
        needed = 0.0
        for h in self.exp.hypotheses:
            if h.source != "mesh" or h.name in self.too_short:
                continue
            after = self.scrape_interval_s + 1.0 if h.measure in ENVOY_COUNTERS else EXPORT_LAG_S + 0.5
            needed = max(needed, ends[h.phase] + after)
        if self.applied and self.evidence is None:  # the final look for FI/DI flags needs the last scrape too
            needed = max(needed, ends["fault"] + self.scrape_interval_s + 1.0)
        return needed

    def _load_health(self, samples: Any) -> LoadHealth:
        return check_load_health(samples, self.result.phases, self.exp.load,
                                 status=self.load.status() if self.load else None, used=cohorts_used(self.exp.hypotheses))

    def samples(self, since: float | None = None):  # type: ignore[no-untyped-def]
        """The record so far (from ``since`` on): only what Locust appended since the last call is parsed."""
        import pandas as pd

        if self.load is None:
            return pd.DataFrame(columns=["t", "cohort", "outcome", "latency_ms"])
        return self.load.samples(since)

    def _evaluate(self, h: Hypothesis, samples: object, timeline: Timeline) -> Verdict:
        return evaluate(h, samples=samples, timeline=timeline, prometheus=self.target.prometheus,  # type: ignore[arg-type]
                        namespace=self.exp.target.namespace)

    def _timeline(self, *, fault_end: float | None = None) -> Timeline:
        phases = {name: Window(*span) for name, span in self.result.phases.items()}
        active = self.result.fault_active
        if active is None and self.fault_started is not None:
            active = (self.fault_started, fault_end or time.time())
        return Timeline(phases, Window(*active) if active else None, self.result.fault_lost_at,
                        self.scrape_interval_s, revert_started=self.revert_started)

    def _guardrail_breached(self) -> bool:
        """A FAIL, a firing alert, or an Alertmanager that cannot be asked (fail safe) ends the fault phase."""
        verdicts = self._guardrail_verdicts()
        breached = [v for v in verdicts if v.outcome is Outcome.FAIL
                    or (v.source == ALERT_SOURCE and v.outcome is Outcome.INCONCLUSIVE)]
        if breached:
            self.result.guardrails = verdicts
            self.result.status = RunStatus.ABORTED
            why = "; ".join(f"{v.name} ({v.reason})" if v.source == ALERT_SOURCE else v.name for v in breached)
            self.result.notes.append("guardrail breached: " + why)
            self.result.error = self.result.error or f"aborted early, guardrail breached: {why}"  # notifications say it
            self.say(f"GUARDRAIL BREACHED ({why}): reverting early")
        return bool(breached)

    def _guardrail_verdicts(self) -> list[Verdict]:
        """Every guardrail now, in the experiment's order: hypotheses judged on the fault so far, alerts asked."""
        verdicts: list[Verdict] = []
        timeline, samples = None, None
        for g in self.exp.guardrails:
            if not isinstance(g, Hypothesis):
                assert self.alertmanager is not None  # preflight refuses alert guardrails without one
                verdicts.append(judge_alert(g, self.alertmanager))
                continue
            if timeline is None:  # once per check, and only when a hypothesis needs it
                timeline = self._timeline(fault_end=time.time())
                samples = self.samples(since=_earliest_read(self.exp.guardrails, timeline))
            verdicts.append(self._evaluate(g, samples, timeline))
        return verdicts

    def _phase(self, name: str, seconds: float) -> None:
        start = time.time()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self._tick(name, end)
        self.result.phases[name] = (start, time.time())

    def _tick(self, phase: str, end: float) -> None:
        if self.load is not None:
            self._watch_load()
        time.sleep(min(TICK_S, max(0.0, end - time.monotonic())))
        now = time.monotonic()
        if self.lock is not None and now - self._last_renewal >= LEASE_RENEW_EVERY_S:
            self._last_renewal = now
            self.lock.renew()
        if now - getattr(self, "_last_progress", 0.0) >= PROGRESS_EVERY_S or now >= end:
            self._last_progress = now
            self.say(self._progress_line(phase, end - now))

    def _watch_load(self) -> None:
        """Lost Locust workers are judged at the end (load health); only the master dying alone stops the run."""
        assert self.load is not None
        status = self.load.status()
        lost = sum(loss.lost for loss in status.losses()) if status else 0
        if status is not None and lost > self._workers_lost_said:
            self._workers_lost_said = lost
            self.say(f"LOAD: {lost} of {status.expected_workers} Locust workers lost; the run goes on and its verdicts "
                     "will be INCONCLUSIVE (load did not hold)")
        if not lost and not self.load.is_alive():  # a master quits by itself when its last worker quit
            raise HarnessError(f"the load generator stopped unexpectedly:\n{self.load.output_tail()}")

    def _progress_line(self, phase: str, left_s: float) -> str:
        injected = bool(self.applied) or self.behaviour_before is not None
        now = time.time()
        return progress_line(self.samples(since=now - PROGRESS_TAIL_S), now=now, load=self.exp.load,
                             status=self.load.status() if self.load else None, phase=phase, left_s=left_s,
                             fault_active=injected and not self.reverted and self.result.fault_lost_at is None,
                             since=self.sending_since, first_t=self.load.first_sample_t() if self.load else None)


def _earliest_read(guardrails: Any, timeline: Timeline) -> float | None:
    """The earliest t the guardrail hypotheses read (their windows, a baseline they compare with): the record
    before it is not parsed into a frame each check (a hypothesis without a window reads no rows)."""
    starts = []
    for g in guardrails:
        if isinstance(g, Hypothesis):
            for phase in (g.phase, "baseline") if g.versus == "baseline" else (g.phase,):
                window, _ = timeline.window(phase)
                starts += [window.start] if window is not None else []
    return min(starts, default=None)


def unobserved(h: Hypothesis, reason: str) -> Verdict:
    """The INCONCLUSIVE verdict of a hypothesis nothing tested (its fault met no request, or the load did not hold)."""
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
    run = _Run(loaded, target, options)
    try:
        checked = preflight(loaded, target)
    except HarnessError as exc:  # nothing was changed; the receivers still hear that this run did not happen
        run.result.status, run.result.error = RunStatus.ERROR, f"refused before anything changed: {exc}"
        run.result.ended_at = time.time()
        run.close_notifications()
        raise
    run.scrape_interval_s, run.too_short = checked.scrape_interval_s, checked.too_short
    folder = report_dir(options.report_root, run.result)
    folder.mkdir(parents=True, exist_ok=True)
    options.progress(f"running {run.result.name} (run {run.run_id}); report: {folder}")
    run.notifier.run_started()
    if any(h.source == "mesh" for h in run.exp.hypotheses):
        options.progress(f"Prometheus scrapes every {checked.scrape_interval_s:g} s: mesh windows are counted "
                         "between scrapes")
    for name, why in checked.too_short.items():
        run.result.notes.append(f"{name}: {why}")
        options.progress(f"WARNING {name}: {why}; it will be INCONCLUSIVE")
    if checked.lint is not None:
        run.tell_lint(checked.lint)
    run.predict(loaded, checked.mesh)
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
            check_alerts(run.alertmanager, run.exp, when="after the baseline")
            stack.callback(run.revert)  # registered before the first write: any failure reverts
            run.inject()
            run.observe()
            run.revert()
            run.recover()
            run.stop_load()
            run.restore_policies()
        run.judge()
        run.notifier.verdicts(run.result.verdicts)
        if run.result.status == RunStatus.RUNNING:
            run.result.status = RunStatus.COMPLETED
    except Interrupted:
        run.result.status, run.result.error = RunStatus.INTERRUPTED, "interrupted by Ctrl-C, SIGTERM or SIGHUP"
    except KeyboardInterrupt:
        run.result.status, run.result.error = RunStatus.INTERRUPTED, "interrupted by Ctrl-C"
    except HarnessError as exc:
        run.result.status, run.result.error = RunStatus.ERROR, str(exc)
    finally:
        run.account_for_changes({run.exp.target.namespace} | {p["metadata"].get("namespace", "default")
                                                              for p in checked.policies})
        run.result.ended_at = time.time()
        run.close_notifications()
        write_reports(run.result, run.samples(), folder, mesh_series=run.mesh_series)
    return run.result, folder
