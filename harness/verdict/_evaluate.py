"""Turn one hypothesis into a verdict, from the client's record or from the mesh's metrics."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.errors import MetricsError
from harness.experiment import ENVOY_COUNTERS, Hypothesis
from harness.istio import parse_duration_s, resolve_host
from harness.metrics import (
    MeshSelector,
    Prometheus,
    Window,
    duration_buckets,
    envoy_cluster_stat,
    requests,
    server_errors,
    with_flag,
)
from harness.verdict._compare import rate_difference_interval, rate_ratio_interval, shift_test
from harness.verdict._outcome import Outcome, Verdict, describe_bound, judge_interval
from harness.verdict._stats import bucket_quantile_interval, quantile_interval, trials_needed, wilson_interval, z_value

if TYPE_CHECKING:
    import pandas as pd

QUANTILES = {"latency_p50": 0.50, "latency_p95": 0.95, "latency_p99": 0.99}
MIN_WINDOW_S = 2.0


@dataclass(frozen=True)
class Timeline:
    """Phase windows (epoch seconds) and when the fault was really active."""

    phases: dict[str, Window]
    fault_active: Window | None
    fault_lost_at: float | None = None
    scrape_interval_s: float = 1.0
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
        end = min(self.fault_active.end, self.fault_lost_at or self.fault_active.end)
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
    if h.measure in ENVOY_COUNTERS:
        # event counters: an ejection right at fault start matters, so keep the start and let the
        # end run one scrape longer (the value at the start was scraped before the fault)
        counted = Window(window.start, window.end + timeline.scrape_interval_s)
        return _guard_prometheus(lambda: _envoy_counter(h, prometheus, counted, namespace, base), counted, base)
    # rates: skip two scrape intervals at the start, whose increments may predate the window
    shrunk = Window(window.start + 2 * timeline.scrape_interval_s, window.end)
    if h.versus is not None:
        ref = timeline.phases["baseline"]
        ref_shrunk = Window(ref.start + 2 * timeline.scrape_interval_s, ref.end)
        return _guard_prometheus(lambda: _mesh_versus(h, prometheus, shrunk, ref_shrunk, namespace, base), shrunk,
                                 base)
    return _guard_prometheus(lambda: _mesh(h, prometheus, shrunk, namespace, base), shrunk, base)


def _guard_prometheus(judge: Callable[[], Verdict], window: Window, base: dict[str, object]) -> Verdict:
    try:
        return judge()
    except MetricsError as exc:
        return Verdict(outcome=Outcome.INCONCLUSIVE, reason=f"Prometheus: {exc.message}",
                       window=(window.start, window.end), **base)  # type: ignore[arg-type]


def _selector(h: Hypothesis, namespace: str) -> MeshSelector:
    assert h.service is not None
    return MeshSelector(h.service, namespace, reporter=h.reporter, source_workload=h.source_workload,
                        destination_version=h.version)


def _promql(h: Hypothesis, prom: Prometheus, window: Window, base: dict[str, object]) -> Verdict:
    """A user's own query, evaluated at the window's end with ``$window`` set to its length."""
    assert h.query is not None
    query = h.query.replace("$window", f"{max(1, int(window.seconds))}s")
    where = base | {"window": (window.start, window.end), "query": query}
    result = prom.instant(query, window.end)
    if not result:
        return Verdict(outcome=Outcome.INCONCLUSIVE, reason="the query returned no data", **where)  # type: ignore[arg-type]
    value = float(result[0]["value"][1])
    if value != value:  # NaN, e.g. 0/0
        return Verdict(outcome=Outcome.INCONCLUSIVE, reason="the query returned NaN", **where)  # type: ignore[arg-type]
    meets = (h.above is None or value > h.above) and (h.below is None or value < h.below)
    return Verdict(outcome=Outcome.PASS if meets else Outcome.FAIL, value=value, samples=len(result),
                   reason="raw PromQL, a point value (no interval)", **where)  # type: ignore[arg-type]


def _reference_window(h: Hypothesis, timeline: Timeline, window: Window) -> tuple[Window | None, str]:
    if h.versus == "control":
        return window, ""
    return timeline.window("baseline")


def _frame(samples: pd.DataFrame, window: Window, cohort: str) -> pd.DataFrame:
    chosen = samples[(samples["t"] >= window.start) & (samples["t"] < window.end)]
    return chosen if cohort == "all" else chosen[chosen["cohort"] == cohort]


def _hits(h: Hypothesis, frame: pd.DataFrame) -> int:
    if h.measure == "flag_rate":
        return int((frame["outcome"] == h.flag).sum())
    if h.measure == "success_rate":
        return int((frame["outcome"] == "ok").sum())
    return int((frame["outcome"] != "ok").sum())


def _client_versus(h: Hypothesis, samples: pd.DataFrame, window: Window, reference: Window,
                   base: dict[str, object]) -> Verdict:
    frame = _frame(samples, window, h.cohort)
    ref_frame = _frame(samples, reference, "control" if h.versus == "control" else h.cohort)
    where = base | {"window": (window.start, window.end),
                    "query": f"client samples, {h.cohort} in {h.phase} vs {h.versus}"}
    if frame.empty or ref_frame.empty:
        return Verdict(outcome=Outcome.INCONCLUSIVE, reason="no requests in one of the compared groups",
                       **where)  # type: ignore[arg-type]
    if h.measure in QUANTILES:
        outcome, estimate, reason = shift_test(frame["latency_ms"].tolist(), ref_frame["latency_ms"].tolist(),
                                               below=h.below, above=h.above, relation=h.relation,
                                               confidence=h.confidence)
        return Verdict(outcome=outcome, value=estimate, samples=len(frame), reason=reason,
                       details={"reference_samples": len(ref_frame), "estimate": f"median {h.relation}"},
                       **where)  # type: ignore[arg-type]
    return _compare_rates(h, _hits(h, frame), len(frame), _hits(h, ref_frame), len(ref_frame), where)


def _mesh_versus(h: Hypothesis, prom: Prometheus, window: Window, reference: Window, namespace: str,
                 base: dict[str, object]) -> Verdict:
    assert h.service is not None
    sel = _selector(h, namespace)
    hit_query = with_flag(sel, h.flag or "") if h.measure == "flag_rate" else server_errors(sel)
    counts = []
    for w in (window, reference):
        n, k = prom.count(requests(sel), w), prom.count(hit_query, w)
        counts += [int(round(n - k if h.measure == "success_rate" else k)), int(round(n))]
    where = base | {"window": (window.start, window.end), "query": f"{hit_query} / {requests(sel)}, vs baseline"}
    return _compare_rates(h, *counts, where)


def _compare_rates(h: Hypothesis, k1: int, n1: int, k2: int, n2: int, where: dict[str, object]) -> Verdict:
    if n1 == 0 or n2 == 0:
        return Verdict(outcome=Outcome.INCONCLUSIVE, reason="no requests in one of the compared groups",
                       **where)  # type: ignore[arg-type]
    if h.relation == "ratio":
        value, low, high = rate_ratio_interval(k1, n1, k2, n2, h.confidence)
        kind = "Katz interval of the ratio"
    else:
        value = k1 / n1 - k2 / n2
        low, high = rate_difference_interval(k1, n1, k2, n2, h.confidence)
        kind = "Newcombe interval of the difference"
    outcome = judge_interval(low, high, below=h.below, above=h.above)
    return Verdict(outcome=outcome, value=value, interval=(low, high), samples=n1,
                   reason=_reason(outcome, f"{h.confidence:.0%} {kind}"),
                   details={"hits": k1, "reference_hits": k2, "reference_samples": n2},
                   **where)  # type: ignore[arg-type]


def _client(h: Hypothesis, samples: pd.DataFrame, window: Window, base: dict[str, object]) -> Verdict:
    chosen = _frame(samples, window, h.cohort)
    where = {"window": (window.start, window.end), "query": f"client samples, cohort={h.cohort}"}
    if h.measure in QUANTILES:
        return _quantile(h, sorted(chosen["latency_ms"].tolist()), base | where)
    if h.measure == "request_rate":
        return _request_rate(h, len(chosen), window, base | where)
    return _rate(h, _hits(h, chosen), len(chosen), base | where)


def _mesh(h: Hypothesis, prom: Prometheus, window: Window, namespace: str, base: dict[str, object]) -> Verdict:
    if h.measure == "promql":
        return _promql(h, prom, window, base)
    assert h.service is not None
    sel = _selector(h, namespace)
    where: dict[str, object] = {"window": (window.start, window.end)}
    if h.measure in QUANTILES:
        query = duration_buckets(sel)
        found = bucket_quantile_interval(prom.bucket_counts(query, window), QUANTILES[h.measure])
        if found is None:
            return Verdict(outcome=Outcome.INCONCLUSIVE, reason="no requests in the window", query=query,
                           **(base | where))  # type: ignore[arg-type]
        point, low, high = found
        total = prom.count(requests(sel), window)
        outcome = judge_interval(low, high, below=h.below, above=h.above)
        return Verdict(outcome=outcome, value=point, interval=(low, high), samples=int(total), query=query,
                       reason=_reason(outcome, "the histogram bucket holding the quantile"),
                       **(base | where))  # type: ignore[arg-type]
    total_query = requests(sel)
    n = prom.count(total_query, window)
    if h.measure == "request_rate":
        return _request_rate(h, int(n), window, base | where | {"query": total_query})
    hit_query = with_flag(sel, h.flag or "") if h.measure == "flag_rate" else server_errors(sel)
    k = prom.count(hit_query, window)
    if h.measure == "success_rate":
        k = n - k
    return _rate(h, int(round(k)), int(round(n)), base | where | {"query": f"{hit_query} / {total_query}"})


def _envoy_counter(h: Hypothesis, prom: Prometheus, window: Window, namespace: str,
                   base: dict[str, object]) -> Verdict:
    """Envoy stats are exact counters: the growth during the window is compared with the bound."""
    assert h.service is not None
    query = envoy_cluster_stat(ENVOY_COUNTERS[h.measure], resolve_host(h.service, namespace), subset=h.subset,
                               pod=h.source_workload)
    where = base | {"window": (window.start, window.end), "query": query}
    if not prom.instant(f"count({query})", window.end):
        return Verdict(outcome=Outcome.INCONCLUSIVE, reason=MISSING_ENVOY_STATS, **where)  # type: ignore[arg-type]
    count = prom.count(query, window)
    meets = (h.above is None or count > h.above) and (h.below is None or count < h.below)
    outcome = Outcome.PASS if meets else Outcome.FAIL
    return Verdict(outcome=outcome, value=count, interval=(count, count), samples=int(count),
                   reason=f"the counter grew by {count:g} in the window (exact count)", **where)  # type: ignore[arg-type]


MISSING_ENVOY_STATS = ("no such Envoy stat in Prometheus: Istio does not export cluster stats by default; enable "
                       "them with meshConfig.defaultConfig.proxyStatsMatcher (see the README)")


def _rate(h: Hypothesis, k: int, n: int, base: dict[str, object]) -> Verdict:
    if n == 0:
        return Verdict(outcome=Outcome.INCONCLUSIVE, reason="no requests in the window", **base)  # type: ignore[arg-type]
    low, high = wilson_interval(k, n, h.confidence)
    outcome = judge_interval(low, high, below=h.below, above=h.above)
    rate = k / n
    reason = _reason(outcome, f"{h.confidence:.0%} Wilson interval")
    if outcome is Outcome.INCONCLUSIVE:
        bound = h.below if h.below is not None and low < h.below <= high else h.above
        needed = trials_needed(rate, bound if bound is not None else rate, h.confidence)
        reason = (f"the {h.confidence:.0%} interval [{low:.4f}, {high:.4f}] straddles the bound"
                  + (f"; about {needed} requests would decide it" if needed else ""))
    details = {**base.get("details", {}), "hits": k}  # type: ignore[dict-item]
    fields = {key: value for key, value in base.items() if key != "details"}
    return Verdict(outcome=outcome, value=rate, interval=(low, high), samples=n, reason=reason, details=details,
                   **fields)  # type: ignore[arg-type]


def _quantile(h: Hypothesis, values: list[float], base: dict[str, object]) -> Verdict:
    found = quantile_interval(values, QUANTILES[h.measure], h.confidence)
    if found is None:
        return Verdict(outcome=Outcome.INCONCLUSIVE, reason="no requests in the window", **base)  # type: ignore[arg-type]
    point, low, high = found
    outcome = judge_interval(low, high, below=h.below, above=h.above)
    return Verdict(outcome=outcome, value=point, interval=(low, high), samples=len(values),
                   reason=_reason(outcome, f"{h.confidence:.0%} order-statistic interval"),
                   **base)  # type: ignore[arg-type]


def _request_rate(h: Hypothesis, n: int, window: Window, base: dict[str, object]) -> Verdict:
    seconds = window.seconds
    rate = n / seconds
    spread = z_value(h.confidence) * max(n, 1) ** 0.5 / seconds  # Poisson approximation
    low, high = max(0.0, rate - spread), rate + spread
    outcome = judge_interval(low, high, below=h.below, above=h.above)
    return Verdict(outcome=outcome, value=rate, interval=(low, high), samples=n,
                   reason=_reason(outcome, "Poisson interval"), **base)  # type: ignore[arg-type]


def _reason(outcome: Outcome, interval: str) -> str:
    if outcome is Outcome.PASS:
        return f"the whole {interval} meets the bound"
    if outcome is Outcome.FAIL:
        return f"the whole {interval} violates the bound"
    return f"the {interval} straddles the bound"
