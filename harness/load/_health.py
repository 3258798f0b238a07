"""Did the load hold? Achieved rate, lost workers, cohort sizes and the load generator's own errors, per phase.

A run whose load did not hold tested less than the experiment says (half the rate, a cohort with
a handful of requests, a fault phase without load), so its verdicts cannot be PASS or FAIL: the
runner makes them INCONCLUSIVE with these reasons, numbers included.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from harness.experiment import Hypothesis, Load
from harness.load._status import LoadStatus

if TYPE_CHECKING:
    import pandas as pd

MIN_RATE_SHARE = 0.9             # of load.rate, in every phase
MIN_COHORT_REQUESTS = 20         # per cohort and phase a client hypothesis counts
MAX_CONNECTION_ERROR_SHARE = 0.01


@dataclass(frozen=True)
class PhaseLoad:
    """What the load generator achieved in one phase."""

    phase: str
    seconds: float
    requests: int
    connection_errors: int
    configured_per_s: float | None
    slow_requests: int = 0  # answers that took longer than the time each user has per request

    @property
    def achieved_per_s(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> dict[str, Any]:
        return {"seconds": round(self.seconds, 3), "requests": self.requests,
                "achieved_per_s": round(self.achieved_per_s, 2), "configured_per_s": self.configured_per_s,
                "connection_errors": self.connection_errors}


@dataclass(frozen=True)
class LoadHealth:
    """Whether the load held, and if not, why (one human sentence per broken rule)."""

    reasons: tuple[str, ...]
    phases: tuple[PhaseLoad, ...] = ()

    @property
    def held(self) -> bool:
        return not self.reasons

    def summary(self) -> dict[str, Any]:
        """Configured against achieved rate per phase, for the run's load summary."""
        return {"held": self.held, "reasons": list(self.reasons), "phases": {p.phase: p.summary() for p in self.phases}}

    def line(self) -> str:
        """One progress line: the verdict on the load and the rate each phase reached."""
        configured = next((p.configured_per_s for p in self.phases if p.configured_per_s), None)
        rates = ", ".join(f"{p.phase} {p.achieved_per_s:.1f}" for p in self.phases)
        of = f" (configured {configured:g})" if configured else ""
        if self.held:
            return f"load held: {rates} req/s{of}"
        return "LOAD DID NOT HOLD, verdicts are INCONCLUSIVE: " + "; ".join(self.reasons)


def cohorts_used(hypotheses: Iterable[Hypothesis]) -> set[tuple[str, str]]:
    """The (cohort, phase) pairs whose requests the client hypotheses count, comparisons included."""
    used: set[tuple[str, str]] = set()
    for h in hypotheses:
        if h.source != "client":
            continue
        used.add((h.cohort, h.phase))
        if h.versus == "baseline":
            used.add((h.cohort, "baseline"))
        elif h.versus == "control":
            used.add(("control", h.phase))
    return used


def check_load_health(samples: pd.DataFrame, phases: Mapping[str, tuple[float, float]], load: Load, *,
                      status: LoadStatus | None, used: Iterable[tuple[str, str]]) -> LoadHealth:
    """Apply every load rule to a run's samples (t, cohort, name, status, latency_ms, outcome) and phases."""
    counts = _per_phase_and_cohort(samples, phases, slow_ms=_user_interval_ms(load))
    loads = tuple(_phase_load(name, span, counts, load) for name, span in phases.items())
    if samples.empty:
        return LoadHealth(("no requests were recorded: the load generator sent nothing",), loads)
    reasons = [*_rate_reasons(loads, load), *_worker_reasons(status, phases),
               *_cohort_reasons(counts, phases, used, load), *_connection_reasons(loads)]
    return LoadHealth(tuple(reasons), loads)


def _user_interval_ms(load: Load) -> float:
    """The time each user has per request at the configured rate (a user waits for its answer before the next)."""
    return load.users / load.rate * 1000 if load.rate else math.inf


def _per_phase_and_cohort(samples: pd.DataFrame, phases: Mapping[str, tuple[float, float]], *,
                          slow_ms: float) -> pd.DataFrame:
    """Requests, connection errors and slow answers per (phase, cohort); phases are [start, end) in epoch s."""
    import pandas as pd

    labelled = [samples[(samples["t"] >= start) & (samples["t"] < end)].assign(phase=name)
                for name, (start, end) in phases.items()]
    frame = pd.concat(labelled) if labelled else samples.iloc[:0].assign(phase="")
    frame = frame.assign(connection_error=frame["outcome"].eq("connection_error"),
                         slow=pd.to_numeric(frame["latency_ms"]) > slow_ms)
    return frame.groupby(["phase", "cohort"]).agg(requests=("outcome", "size"),
                                                  connection_errors=("connection_error", "sum"), slow=("slow", "sum"))


def _in_phase(counts: pd.DataFrame, phase: str) -> pd.DataFrame:
    """The per-cohort rows of one phase (none when the phase had no requests)."""
    return counts.xs(phase, level="phase") if phase in counts.index.get_level_values("phase") else counts.iloc[:0]


def _phase_load(name: str, span: tuple[float, float], counts: pd.DataFrame, load: Load) -> PhaseLoad:
    rows = _in_phase(counts, name)
    requests = int(rows["requests"].sum())
    configured = load.rate if load.shape.kind == "constant" else None  # a shape moves the rate on purpose
    return PhaseLoad(name, span[1] - span[0], requests, int(rows["connection_errors"].sum()), configured,
                     int(rows["slow"].sum()))


def _rate_reasons(loads: Iterable[PhaseLoad], load: Load) -> list[str]:
    reasons = []
    for p in loads:
        if p.configured_per_s is None:
            if p.requests == 0:
                reasons.append(f"no requests in the {p.phase} phase")
            continue
        share = p.achieved_per_s / p.configured_per_s
        if share < MIN_RATE_SHARE:
            reasons.append(f"{p.phase} phase reached {p.achieved_per_s:.1f} req/s of the configured "
                           f"{p.configured_per_s:g} ({share:.0%}){_latency_bound_hint(p, load)}")
    return reasons


def _latency_bound_hint(p: PhaseLoad, load: Load) -> str:
    """Each Locust user waits for its answer: answers slower than a user's turn cap what the crowd can send."""
    if not p.slow_requests:
        return ""
    return (f"; {p.slow_requests} answers took longer than the {_user_interval_ms(load):.0f} ms each user has per request "
            f"({load.users} users for {load.rate:g} req/s): raise load.users")


def _worker_reasons(status: LoadStatus | None, phases: Mapping[str, tuple[float, float]]) -> list[str]:
    """Losses the master noticed between the first phase's start and the last one's end, added up per phase.

    A worker that quits says so at once; a killed one is noticed by the master's heartbeat, about 3 s later.
    """
    if status is None or not phases:
        return []
    first, last = min(s for s, _ in phases.values()), max(e for _, e in phases.values())
    grouped: dict[str | None, tuple[int, float]] = {}
    for loss in status.losses():
        if first <= loss.t < last:
            name = _phase_of(loss.t, phases)
            lost, at = grouped.get(name, (0, loss.t))
            grouped[name] = (lost + loss.lost, at)
    expected = status.expected_workers or max((n for _, n in status.workers), default=0)
    return [f"{lost} of {expected} Locust workers lost at {time.strftime('%H:%M:%S', time.gmtime(at))} UTC "
            f"({_when(at, name, phases)})" for name, (lost, at) in grouped.items()]


def _phase_of(t: float, phases: Mapping[str, tuple[float, float]]) -> str | None:
    return next((name for name, (start, end) in phases.items() if start <= t < end), None)


def _when(t: float, phase: str | None, phases: Mapping[str, tuple[float, float]]) -> str:
    return f"{phase} phase, {t - phases[phase][0]:.1f} s in" if phase else "between phases"


def _cohort_reasons(counts: pd.DataFrame, phases: Mapping[str, tuple[float, float]], used: Iterable[tuple[str, str]],
                    load: Load) -> list[str]:
    reasons = []
    used = set(used)
    for phase in phases:
        in_phase = _in_phase(counts, phase)
        for cohort in sorted(c for c, p in used if p == phase):
            requests = int(in_phase["requests"].sum() if cohort == "all" else in_phase["requests"].get(cohort, 0))
            if requests < MIN_COHORT_REQUESTS:
                reasons.append(f"{cohort} cohort had {requests} requests in the {phase} phase (at least "
                               f"{MIN_COHORT_REQUESTS} needed; {_crowd(load)})")
    return reasons


def _crowd(load: Load) -> str:
    workers = load.pods.count if load.pods else load.workers
    crowd = f"taggedShare {load.tagged_share:g} of {load.users} users"
    if workers:
        crowd += f" on {workers} workers" + (", 1 user per worker?" if load.users <= workers else "")
    return crowd


def _connection_reasons(loads: Iterable[PhaseLoad]) -> list[str]:
    return [f"{p.connection_errors} of {p.requests} requests in the {p.phase} phase failed to connect to the gateway "
            "(connection_error)" for p in loads
            if p.requests and p.connection_errors / p.requests > MAX_CONNECTION_ERROR_SHARE]
