"""What a run tells its receivers: five events, and the generic JSON every webhook gets (schema in the README)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.experiment import Experiment, Failure, Fault

if TYPE_CHECKING:
    from harness.report import RunResult
    from harness.verdict import Verdict

SCHEMA = "harness.notification/v1"


class EventKind(StrEnum):
    RUN_STARTED = "run_started"
    FAULT_STARTED = "fault_started"  # confirmed in the data plane, not merely written
    FAULT_ENDED = "fault_ended"      # the original config confirmed back in the proxies
    VERDICTS = "verdicts"            # every hypothesis at once, once judged
    RUN_FINISHED = "run_finished"    # the outcome and how the run ended, whatever happened


@dataclass(frozen=True)
class RunInfo:
    """Who the events are about: the same in every event of one run."""

    run_id: str
    experiment: str
    owner: str
    namespace: str
    report: str            # the run's report folder
    faults: tuple[str, ...]  # one line per fault or real failure, e.g. "abort 503 (100%) on productcatalog"

    @classmethod
    def of(cls, experiment: Experiment, run_id: str, report: Path) -> RunInfo:
        faults = [describe_fault(f) for f in experiment.faults] + [describe_failure(f) for f in experiment.failures]
        return cls(run_id, experiment.metadata.name, experiment.metadata.owner, experiment.target.namespace,
                   str(report), tuple(faults))


@dataclass(frozen=True)
class VerdictLine:
    """One hypothesis's verdict as receivers see it."""

    name: str
    outcome: str
    reason: str
    measure: str
    phase: str
    value: float | None
    bound: str

    @classmethod
    def of(cls, verdict: Verdict) -> VerdictLine:
        value = verdict.value if verdict.value is not None and verdict.value == verdict.value else None  # NaN: none
        return cls(verdict.name, verdict.outcome.value, verdict.reason, verdict.measure, verdict.phase, value,
                   verdict.bound)


@dataclass(frozen=True)
class Event:
    """Something that happened in a run, at ``at`` (epoch seconds)."""

    kind: EventKind
    run: RunInfo
    at: float
    fault_start: float | None = None
    fault_end: float | None = None
    activation_latency_s: float | None = None
    verdicts: tuple[VerdictLine, ...] = ()
    outcome: str | None = None  # PASS, FAIL, INCONCLUSIVE (run_finished)
    status: str | None = None   # completed, aborted, interrupted, error (run_finished)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The generic webhook body: the run's fields in every event, then what this event adds."""
        body: dict[str, Any] = {
            "schema": SCHEMA, "event": self.kind.value, "time": iso_time(self.at), "run_id": self.run.run_id,
            "experiment": self.run.experiment, "owner": self.run.owner, "namespace": self.run.namespace,
            "report": self.run.report,
        }
        if self.kind in (EventKind.FAULT_STARTED, EventKind.FAULT_ENDED):
            body["fault"] = {"faults": list(self.run.faults), "start": iso_time(self.fault_start),
                             "end": iso_time(self.fault_end), "start_ms": epoch_ms(self.fault_start),
                             "end_ms": epoch_ms(self.fault_end), "activation_latency_s": self.activation_latency_s}
        if self.kind in (EventKind.VERDICTS, EventKind.RUN_FINISHED):
            body["verdicts"] = [vars(v) for v in self.verdicts]
        if self.kind is EventKind.RUN_FINISHED:
            body.update(outcome=self.outcome, status=self.status, error=self.error)
        return body


def run_started(run: RunInfo, at: float) -> Event:
    return Event(EventKind.RUN_STARTED, run, at)


def fault_started(run: RunInfo, start: float, activation_latency_s: float | None) -> Event:
    return Event(EventKind.FAULT_STARTED, run, start, fault_start=start, activation_latency_s=activation_latency_s)


def fault_ended(run: RunInfo, start: float, end: float) -> Event:
    return Event(EventKind.FAULT_ENDED, run, end, fault_start=start, fault_end=end)


def verdicts_judged(run: RunInfo, verdicts: list[Verdict], at: float) -> Event:
    return Event(EventKind.VERDICTS, run, at, verdicts=tuple(VerdictLine.of(v) for v in verdicts))


def run_finished(run: RunInfo, result: RunResult, at: float) -> Event:
    window = result.fault_active or (None, None)
    return Event(EventKind.RUN_FINISHED, run, at, fault_start=window[0], fault_end=window[1],
                 verdicts=tuple(VerdictLine.of(v) for v in result.verdicts), outcome=result.outcome.value,
                 status=str(result.status), error=result.error)


def iso_time(epoch_s: float | None) -> str | None:
    """RFC 3339 in UTC with milliseconds, as receivers parse it."""
    if epoch_s is None:
        return None
    return datetime.fromtimestamp(epoch_s, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def epoch_ms(epoch_s: float | None) -> int | None:
    """Milliseconds since the epoch (Grafana's annotation times)."""
    return None if epoch_s is None else round(epoch_s * 1000)


def describe_fault(fault: Fault) -> str:
    parts = []
    if fault.delay is not None:
        parts.append(f"delay {fault.delay.fixed_delay} ({fault.delay.percentage:g}%)")
    if fault.abort is not None:
        status = fault.abort.http_status or fault.abort.grpc_status
        parts.append(f"abort {status} ({fault.abort.percentage:g}%)")
    scope = "" if fault.scope.traffic == "run" else ", all traffic"
    return f"{' + '.join(parts)} on {fault.virtual_service or fault.host}{scope}"


def describe_failure(failure: Failure) -> str:
    where = failure.service + (f" {failure.version}" if failure.version else "") + (
        f" replica {failure.replica}" if failure.replica is not None else "")
    what = [f"{failure.latency_ms:g} ms slower"] if failure.latency_ms else []
    if failure.error_rate:
        what.append(f"{failure.error_rate:.0%} errors" + (f" ({failure.error_status})" if failure.error_status else ""))
    return f"real failure of {where}: {', '.join(what) or 'no change'}"
