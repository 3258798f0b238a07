"""Turn one hypothesis into a verdict, from the client's record or from the mesh's metrics."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.experiment import Hypothesis
from harness.istio import parse_duration_s
from harness.metrics import (
    Prometheus,
    Window,
)
from harness.verdict._compare import (
    quantile_comparison_interval,
    shift_test,
)
from harness.verdict._judge import (
    QUANTILES,
    details_of,
    interval_reason,
    judge_rate,
    judge_rate_comparison,
    judge_request_rate,
    make_verdict,
    no_data,
)
from harness.verdict._mesh import judge_mesh
from harness.verdict._outcome import Outcome, Verdict, describe_bound, judge_interval
from harness.verdict._stats import quantile_interval

if TYPE_CHECKING:
    import pandas as pd

SAMPLE_COLUMNS = ("t", "cohort", "latency_ms", "outcome")  # what client verdicts read from the load's record
MIN_WINDOW_S = 2.0


@dataclass(frozen=True)
class Timeline:
    """Phase windows (epoch seconds) and when the fault was really active."""

    phases: dict[str, Window]
    fault_active: Window | None
    fault_lost_at: float | None = None
    scrape_interval_s: float = 1.0
    # when the revert began: the first fault taken out (or the replicas healed) ends the window in which every
    # fault is in place, though the last revert is confirmed in the proxies only later (that ends fault_active)
    revert_started: float | None = None
    notes: list[str] = field(default_factory=list)

    def window(self, phase: str, *, within_s: float | None = None, after_s: float | None = None
               ) -> tuple[Window | None, str]:
        """The window to judge ``phase`` on (optionally its first ``within_s``, or from ``after_s`` on)."""
        window, why = self._phase_window(phase)
        if window is None:
            return None, why
        if within_s is not None:
            window = Window(window.start, min(window.end, window.start + within_s))
        if after_s is not None:
            window = Window(window.start + after_s, window.end)
            if window.seconds < MIN_WINDOW_S:
                return None, f"the {phase} phase is shorter than 'after' ({after_s:g}s) plus {MIN_WINDOW_S:g}s"
        return window, ""

    def _phase_window(self, phase: str) -> tuple[Window | None, str]:
        if phase != "fault":
            window = self.phases.get(phase)
            return (window, "") if window and window.seconds >= MIN_WINDOW_S else (None, f"no {phase} phase")
        if self.fault_active is None:
            return None, "the fault never became active"
        end = min(x for x in (self.fault_active.end, self.fault_lost_at, self.revert_started) if x is not None)
        window = Window(self.fault_active.start, end)
        if window.seconds < MIN_WINDOW_S:
            return None, "the fault was active for too short a time (removed by someone else?)"
        return window, ""


def evaluate(h: Hypothesis, *, samples: pd.DataFrame, timeline: Timeline, prometheus: Prometheus | None,
             namespace: str) -> Verdict:
    window, why = timeline.window(h.phase, within_s=parse_duration_s(h.within) if h.within else None,
                                  after_s=parse_duration_s(h.after) if h.after else None)
    base = {"name": h.name, "measure": h.measure, "source": h.source, "phase": h.phase, "cohort": h.cohort,
            "bound": describe_bound(h.below, h.above)}
    if window is None:
        return Verdict(outcome=Outcome.INCONCLUSIVE, reason=why, **base)
    if timeline.fault_lost_at and h.phase == "fault":
        base["details"] = {"note": "judged only up to the moment the fault was removed by someone else"}
    reference: Window | None = None  # what a versus hypothesis is compared with
    if h.versus is not None:
        reference, why = _reference_window(h, timeline, window)
        if reference is None:
            return Verdict(outcome=Outcome.INCONCLUSIVE, reason=why, **base)
        if h.source == "client":
            return _client_versus(h, samples, window, reference, base)
    if h.source == "client":
        return _client(h, samples, window, base)
    if prometheus is None:
        return Verdict(outcome=Outcome.INCONCLUSIVE, reason="no Prometheus configured", **base)
    return judge_mesh(h, prometheus, window, reference, interval_s=timeline.scrape_interval_s, namespace=namespace,
                      base=base)


def _reference_window(h: Hypothesis, timeline: Timeline, window: Window) -> tuple[Window | None, str]:
    if h.versus == "control":
        return window, ""
    return timeline.window("baseline")


def _frame(samples: pd.DataFrame, window: Window, cohort: str) -> pd.DataFrame:
    """The client's rows in ``window`` from ``cohort`` (``all``: every cohort)."""
    missing = [column for column in SAMPLE_COLUMNS if column not in samples.columns]
    if missing:  # a frame read from an empty or partial record: absent columns hold no evidence
        samples = samples.assign(**dict.fromkeys(missing, float("nan")))
    chosen = samples[(samples["t"] >= window.start) & (samples["t"] < window.end)]
    return chosen if cohort == "all" else chosen[chosen["cohort"] == cohort]


@dataclass(frozen=True)
class _Group:
    """One side of a client verdict: a cohort's requests in a window, as the measure counts them."""

    requests: pd.DataFrame
    latencies: list[float]
    missing: str = ""  # why this group is no evidence ("" when it is)
    ignored: int = 0   # rows without the value the measure needs (NaN latency or outcome)


def _group(h: Hypothesis, samples: pd.DataFrame, window: Window, cohort: str, phase: str) -> _Group:
    """The rows the measure can use: latency measures need a latency, the others a recorded outcome."""
    frame = _frame(samples, window, cohort)
    if h.measure.startswith("latency"):
        latencies = _latencies(frame)
        missing = "" if latencies else _no_requests(samples, window, cohort, phase, usable="latency")
        return _Group(frame, latencies, missing, len(frame) - len(latencies))
    requests = frame[frame["outcome"].notna()]
    missing = "" if len(requests) else _no_requests(samples, window, cohort, phase, usable="outcome")
    return _Group(requests, [], missing, len(frame) - len(requests))


def _latencies(frame: pd.DataFrame) -> list[float]:
    """Sorted latencies; NaN (not recorded) and infinities are no measurement, so they are never ranked."""
    import numpy as np

    values = frame["latency_ms"].to_numpy(dtype=float)
    return np.sort(values[np.isfinite(values)]).tolist()  # type: ignore[no-any-return]


def _no_requests(samples: pd.DataFrame, window: Window, cohort: str, phase: str, *, usable: str) -> str:
    """INCONCLUSIVE's reason for an empty group: what was asked, and what the record holds instead."""
    asked = "no requests" if cohort == "all" else f"no requests from cohort {cohort}"
    everyone = _frame(samples, window, "all")
    if everyone.empty:
        found = "no client samples at all" if samples.empty else f"none of the {len(samples)} client samples is in it"
        return f"{asked} in the {phase} window ({found})"
    mine = everyone if cohort == "all" else everyone[everyone["cohort"] == cohort]
    if not mine.empty:
        return f"{asked} with a recorded {usable} in the {phase} window (its {len(mine)} rows have none)"
    others = ", ".join(f"{name} {count}" for name, count in everyone["cohort"].value_counts(dropna=False).items())
    return f"{asked} in the {phase} window (other cohorts: {others})"


def _noting_ignored(where: dict[str, object], *groups: _Group) -> dict[str, object]:
    ignored = sum(group.ignored for group in groups)
    if not ignored:
        return where
    note = {"ignored_rows": ignored, "ignored_because": "no recorded latency or outcome (NaN)"}
    return where | {"details": {**details_of(where), **note}}


def _hits(h: Hypothesis, frame: pd.DataFrame) -> int:
    if h.measure == "flag_rate":
        return int((frame["outcome"] == h.flag).sum())
    if h.measure == "success_rate":
        return int((frame["outcome"] == "ok").sum())
    return int((frame["outcome"] != "ok").sum())


def _client_versus(h: Hypothesis, samples: pd.DataFrame, window: Window, reference: Window,
                   base: dict[str, object]) -> Verdict:
    where = base | {"window": (window.start, window.end),
                    "query": f"client samples, {h.cohort} in {h.phase} vs {h.versus}"}
    group = _group(h, samples, window, h.cohort, h.phase)
    ref = _group(h, samples, reference, "control" if h.versus == "control" else h.cohort,
                 "baseline" if h.versus == "baseline" else h.phase)
    missing = "; ".join(g.missing for g in (group, ref) if g.missing)
    if missing:
        return no_data(missing, where)
    where = _noting_ignored(where, group, ref)
    if h.measure == "latency_shift":
        return _latency_shift(h, group.latencies, ref.latencies, where)
    if h.measure in QUANTILES:
        return _quantile_versus(h, group.latencies, ref.latencies, where)
    return judge_rate_comparison(h, _hits(h, group.requests), len(group.requests), _hits(h, ref.requests),
                          len(ref.requests), where)


def _quantile_versus(h: Hypothesis, values: list[float], reference: list[float], where: dict[str, object]
                     ) -> Verdict:
    """The quantile itself is compared: a slow tail moves p99 even when the median stays put."""
    found = quantile_comparison_interval(values, reference, QUANTILES[h.measure], relation=h.relation,
                                         confidence=h.confidence)
    assert found is not None, "both groups were checked for latencies"
    value, low, high = found
    outcome = judge_interval(low, high, below=h.below, above=h.above)
    name = h.measure.removeprefix("latency_")
    method = (f"{h.confidence:.0%} interval of the {name} {h.relation} (order-statistic intervals of each group "
              f"at {1 - (1 - h.confidence) / 2:.1%}, Bonferroni)")
    reason = interval_reason(outcome, method)
    if outcome is Outcome.INCONCLUSIVE and math.isinf(high - low):
        reason += f"; too few requests in a group to bound its {name} at that confidence"
    return make_verdict(where, outcome=outcome, value=value, interval=(low, high), samples=len(values), reason=reason,
                    details={"reference_samples": len(reference), "estimate": f"{name} {h.relation}"})


def _latency_shift(h: Hypothesis, values: list[float], reference: list[float], where: dict[str, object]
                   ) -> Verdict:
    """The hypothesis is about the whole distribution, so a rank test judges it (no interval)."""
    outcome, estimate, reason = shift_test(values, reference, below=h.below, above=h.above, relation=h.relation,
                                           confidence=h.confidence)
    return make_verdict(where, outcome=outcome, value=estimate, samples=len(values), reason=reason,
                    details={"reference_samples": len(reference), "estimate": f"median {h.relation}"})


def _client(h: Hypothesis, samples: pd.DataFrame, window: Window, base: dict[str, object]) -> Verdict:
    where = base | {"window": (window.start, window.end), "query": f"client samples, cohort={h.cohort}"}
    group = _group(h, samples, window, h.cohort, h.phase)
    if group.missing:
        return no_data(group.missing, where)
    where = _noting_ignored(where, group)
    if h.measure in QUANTILES:
        return _quantile(h, group.latencies, where)
    if h.measure == "request_rate":
        return judge_request_rate(h, len(group.requests), window, where)
    return judge_rate(h, _hits(h, group.requests), len(group.requests), where)


def _quantile(h: Hypothesis, values: list[float], base: dict[str, object]) -> Verdict:
    """``values``: sorted latencies without NaN (see _latencies)."""
    found = quantile_interval(values, QUANTILES[h.measure], h.confidence)
    if found is None:
        return no_data("no requests in the window", base)
    point, low, high = found
    outcome = judge_interval(low, high, below=h.below, above=h.above)
    return make_verdict(base, outcome=outcome, value=point, interval=(low, high), samples=len(values),
                    reason=interval_reason(outcome, f"{h.confidence:.0%} order-statistic interval"))


