"""What one experiment run produced: the record every report format is rendered from."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

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
    """A VirtualService the run changed: its spec before and with the fault."""

    namespace: str
    name: str
    created: bool
    before: dict[str, Any] | None
    after: dict[str, Any]
    restore: str = ""
    kind: str = "VirtualService"


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

    @property
    def outcome(self) -> Outcome:
        """FAIL beats INCONCLUSIVE beats PASS; a run without verdicts is INCONCLUSIVE."""
        outcomes = {v.outcome for v in self.verdicts}
        if Outcome.FAIL in outcomes:
            return Outcome.FAIL
        if Outcome.INCONCLUSIVE in outcomes or not outcomes:
            return Outcome.INCONCLUSIVE
        return Outcome.PASS
