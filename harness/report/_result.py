"""What one experiment run produced: the record every report format is rendered from."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from harness.metrics import SentQuery
from harness.verdict import Outcome, Verdict


class RunStatus(StrEnum):
    """How a run ended (its value is what the journal, JUnit and the history say)."""

    RUNNING = "running"          # not ended yet
    COMPLETED = "completed"      # every phase ran, verdicts were judged
    ABORTED = "aborted"          # a guardrail breach reverted early
    INTERRUPTED = "interrupted"  # Ctrl-C, SIGTERM or SIGHUP; a suite stops after it
    ERROR = "error"              # a failed preflight, lock, write or revert: the run's error says which


@dataclass
class Change:
    """An object the run changed: before, with the fault (or policy), and as read back after the revert."""

    namespace: str
    name: str
    created: bool
    before: dict[str, Any] | None
    after: dict[str, Any]
    restore: str = ""
    kind: str = "VirtualService"
    final: dict[str, Any] | None = None  # read back from the API once the undo was done (None: gone, or not read)
    read_back: bool = False              # the undo was done and the object was read back (final None = deleted)


@dataclass(frozen=True)
class QueryRecord:
    """A query sent to Prometheus for a hypothesis: to judge it (``verdict``) or to draw it (``plot``)."""

    hypothesis: str
    purpose: str
    sent: SentQuery

    @classmethod
    def of(cls, data: QueryRecord | dict[str, Any]) -> QueryRecord:
        """From the journal's form (the dataclass as a dict) or as is."""
        if isinstance(data, QueryRecord):
            return data
        return cls(data["hypothesis"], data["purpose"], SentQuery(**data["sent"]))


@dataclass
class RunResult:
    name: str
    run_id: str
    source: str
    experiment: dict[str, Any]
    status: RunStatus = RunStatus.RUNNING
    started_at: float = 0.0
    ended_at: float = 0.0
    phases: dict[str, tuple[float, float]] = field(default_factory=dict)
    fault_active: tuple[float, float] | None = None
    fault_lost_at: float | None = None
    activation_latency_s: float | None = None
    changes: list[Change] = field(default_factory=list)
    verdicts: list[Verdict] = field(default_factory=list)
    guardrails: list[Verdict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    load_summary: dict[str, Any] = field(default_factory=dict)
    lint: list[dict[str, Any]] = field(default_factory=list)  # harness lint's findings at preflight
    queries: list[QueryRecord] = field(default_factory=list)  # every Prometheus query per mesh hypothesis, as sent
    fault_evidence: str | None = None  # what showed the fault in requests (client record or FI/DI flags)
    prometheus_url: str | None = None  # where the mesh queries went: the report links to its graph page

    def __post_init__(self) -> None:
        self.queries = [QueryRecord.of(q) for q in self.queries]  # a journal read back holds dicts

    @property
    def outcome(self) -> Outcome:
        """FAIL beats INCONCLUSIVE beats PASS; a run without verdicts is INCONCLUSIVE."""
        outcomes = {v.outcome for v in self.verdicts}
        if Outcome.FAIL in outcomes:
            return Outcome.FAIL
        if Outcome.INCONCLUSIVE in outcomes or not outcomes:
            return Outcome.INCONCLUSIVE
        return Outcome.PASS
