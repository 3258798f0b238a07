"""Verdicts from the mesh's own metrics in Prometheus: counts between scrapes, and no PASS without series.

Requests and their flags come from ``istio_requests_total`` and its duration histogram, counted
between scrape timestamps inside the window (inner edges: nothing from the neighbouring phases);
Envoy event counters (ejections, retries, overflows) between the scrapes around it (outer edges:
an ejection right at fault start counts). Both use each series' raw samples with Prometheus's
reset rule, so a sidecar restarted mid window neither hides its events nor double counts them.

A selector that matches no series is never "0 requests, so below the bound": it is INCONCLUSIVE,
naming the label that matched nothing and the values that exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.errors import MetricsError
from harness.experiment import ENVOY_COUNTERS, Hypothesis
from harness.experiment._windows import scrape_shortfall, window_label
from harness.istio import resolve_host
from harness.metrics import (
    MeshSelector,
    Prometheus,
    Window,
    duration_buckets,
    envoy_cluster_stat,
    requests,
    selector,
    server_errors,
    with_flag,
)
from harness.metrics._prometheus import REQUESTS
from harness.verdict._judge import QUANTILES, interval_reason, judge_rate, judge_rate_comparison, judge_request_rate
from harness.verdict._outcome import Outcome, Verdict, judge_interval
from harness.verdict._stats import bucket_quantile_interval

if TYPE_CHECKING:
    from harness.metrics._counters import Growth  # pandas: loaded when a verdict needs it

# Istio's stats are current when a request ends, but the sandbox builds them from Envoy's access
# log, which Envoy flushes every second: a scrape within a second after the window's start may
# still be catching up on requests from before it, so the first counted scrape is one after that
EXPORT_LAG_S = 1.0
KNOWN_LOOKBACK_S = 3600
MAX_KNOWN = 12

MISSING_ENVOY_STATS = ("no such Envoy stat in Prometheus: Istio does not export cluster stats by default; enable "
                       "them with meshConfig.defaultConfig.proxyStatsMatcher (see the README)")


def judge_mesh(h: Hypothesis, prom: Prometheus, window: Window, reference: Window | None, *, interval_s: float,
               namespace: str, base: dict[str, object]) -> Verdict:
    """The verdict of a mesh hypothesis on ``window`` (and ``reference`` for ``versus: baseline``)."""
    for label, span in ((window_label(h), window), ("baseline", reference)):
        short = scrape_shortfall(label, span.seconds, interval_s) if span is not None else None
        if short:
            return _inconclusive(short, window, base)
    judge = _Judge(h, prom, interval_s, namespace, base)
    try:
        if h.measure == "promql":
            return judge.promql(window)
        if h.measure in ENVOY_COUNTERS:
            return judge.event_counter(window)
        if reference is not None:
            return judge.rates_versus(window, reference)
        return judge.requests(window)
    except MetricsError as exc:
        return _inconclusive(f"Prometheus: {exc.message}", window, base)


def _inconclusive(reason: str, window: Window, base: dict[str, object], **more: object) -> Verdict:
    return Verdict(outcome=Outcome.INCONCLUSIVE, reason=reason, window=(window.start, window.end),
                   **(base | more))  # type: ignore[arg-type]


class _Judge:
    def __init__(self, h: Hypothesis, prom: Prometheus, interval_s: float, namespace: str,
                 base: dict[str, object]) -> None:
        self.h, self.prom, self.interval_s, self.namespace, self.base = h, prom, interval_s, namespace, base

    # -- measures ---------------------------------------------------------------------------------

    def promql(self, window: Window) -> Verdict:
        """A user's own query, evaluated at the window's end with ``$window`` set to its length."""
        h = self.h
        assert h.query is not None
        query = h.query.replace("$window", f"{max(1, int(window.seconds))}s")
        result = self.prom.instant(query, window.end)
        if not result:
            return _inconclusive("the query returned no data", window, self.base, query=query)
        value = float(result[0]["value"][1])
        if value != value:  # NaN, e.g. 0/0
            return _inconclusive("the query returned NaN", window, self.base, query=query)
        meets = (h.above is None or value > h.above) and (h.below is None or value < h.below)
        return Verdict(outcome=Outcome.PASS if meets else Outcome.FAIL, value=value, samples=len(result),
                       reason="raw PromQL, a point value (no interval)", query=query,
                       window=(window.start, window.end), **self.base)  # type: ignore[arg-type]

    def event_counter(self, window: Window) -> Verdict:
        """Envoy stats are exact counters: their growth around the window is compared with the bound."""
        h = self.h
        assert h.service is not None
        query = envoy_cluster_stat(ENVOY_COUNTERS[h.measure], resolve_host(h.service, self.namespace),
                                   subset=h.subset, pod=h.source_workload)
        grown = self.prom.growth(query, window, edges="outer", interval_s=self.interval_s)
        if grown.series == 0 or grown.covered is None:
            return _inconclusive(self._no_envoy_series(query, window), window, self.base, query=query)
        if grown.covered[1] < window.end:  # events after the last scrape are not counted yet: "below" would be hollow
            return _inconclusive(f"Prometheus has no scrape after the window's end yet (last at {grown.covered[1]:.0f}, "
                                 f"scrape interval {self.interval_s:g} s): the count would be partial", window,
                                 self.base, query=query)
        count = grown.total
        meets = (h.above is None or count > h.above) and (h.below is None or count < h.below)
        return Verdict(outcome=Outcome.PASS if meets else Outcome.FAIL, value=count, interval=(count, count),
                       samples=int(count), query=query, window=grown.covered,
                       reason=f"the counter grew by {count:g} between the scrapes around the window (exact count)",
                       details=self._edges(grown, window), **self.base)  # type: ignore[arg-type]

    def requests(self, window: Window) -> Verdict:
        h, sel = self.h, self._selector()
        total_query = requests(sel)
        if h.measure in ("latency_p50", "latency_p95", "latency_p99"):
            return self._latency(window)
        total = self._count(total_query, window)
        if isinstance(total, Verdict):
            return total
        where = {"window": total.covered, "details": self._edges(total, window)}
        if h.measure == "request_rate":
            seconds = total.total / total.rate if total.rate > 0 else total.covered_s
            return judge_request_rate(h, int(round(total.total)), Window(0.0, seconds),
                                 self.base | where | {"query": total_query})
        hit_query = self._hit_query(sel)
        hits = self.prom.growth(hit_query, window, edges="inner", interval_s=self.interval_s, lag_s=EXPORT_LAG_S)
        k = total.total - hits.total if h.measure == "success_rate" else hits.total
        return judge_rate(h, int(round(k)), int(round(total.total)),
                     self.base | where | {"query": f"{hit_query} / {total_query}"})

    def rates_versus(self, window: Window, reference: Window) -> Verdict:
        sel = self._selector()
        hit_query = self._hit_query(sel)
        counts: list[int] = []
        for span in (window, reference):
            total = self._count(requests(sel), span)
            if isinstance(total, Verdict):
                return total
            hits = self.prom.growth(hit_query, span, edges="inner", interval_s=self.interval_s, lag_s=EXPORT_LAG_S)
            k = total.total - hits.total if self.h.measure == "success_rate" else hits.total
            counts += [int(round(k)), int(round(total.total))]
        where = self.base | {"window": (window.start, window.end),
                             "query": f"{hit_query} / {requests(sel)}, vs baseline"}
        k1, n1, k2, n2 = counts
        return judge_rate_comparison(self.h, k1, n1, k2, n2, where)

    def _latency(self, window: Window) -> Verdict:
        h, sel = self.h, self._selector()
        query = duration_buckets(sel)
        total = self._count(requests(sel), window)
        if isinstance(total, Verdict):
            return total
        buckets = self.prom.bucket_growth(query, window, interval_s=self.interval_s, lag_s=EXPORT_LAG_S)
        found = bucket_quantile_interval(buckets, QUANTILES[h.measure])
        where = {"window": total.covered, "query": query, "details": self._edges(total, window)}
        if found is None:
            return Verdict(outcome=Outcome.INCONCLUSIVE, reason="no requests in the window",
                           **(self.base | where))  # type: ignore[arg-type]
        point, low, high = found
        outcome = judge_interval(low, high, below=h.below, above=h.above)
        return Verdict(outcome=outcome, value=point, interval=(low, high), samples=int(buckets[-1][1]),
                       reason=interval_reason(outcome, "range of the histogram bucket holding the quantile"),
                       **(self.base | where))  # type: ignore[arg-type]

    # -- helpers ----------------------------------------------------------------------------------

    def _selector(self) -> MeshSelector:
        h = self.h
        assert h.service is not None
        return MeshSelector(h.service, self.namespace, reporter=h.reporter, source_workload=h.source_workload,
                            destination_version=h.version)

    def _hit_query(self, sel: MeshSelector) -> str:
        return with_flag(sel, self.h.flag or "") if self.h.measure == "flag_rate" else server_errors(sel)

    def _count(self, query: str, window: Window) -> Growth | Verdict:
        """Requests counted in ``window``, or the INCONCLUSIVE verdict saying why there is nothing to count."""
        grown = self.prom.growth(query, window, edges="inner", interval_s=self.interval_s, lag_s=EXPORT_LAG_S)
        if grown.series == 0:
            return _inconclusive(self._no_request_series(window), window, self.base, query=query)
        if grown.covered is None:
            return _inconclusive(f"fewer than two scrapes inside the {window.seconds:.0f}s window (scrape interval "
                                 f"{self.interval_s:g} s)", window, self.base, query=query)
        return grown

    def _edges(self, grown: Growth, window: Window) -> dict[str, object]:
        details = dict(self.base.get("details") or {})  # type: ignore[call-overload]
        assert grown.covered is not None
        details.update({"window_planned": [window.start, window.end], "counted_between_scrapes": list(grown.covered),
                        "scrape_interval_s": self.interval_s, "series": grown.series})
        return details

    def _no_request_series(self, window: Window) -> str:
        """Which label of the selector matched nothing, and the values that exist for it."""
        constraints: dict[str, str] = {}
        for label, value in self._selector().labels().items():
            narrowed = {**constraints, label: value}
            if not self._exists(REQUESTS + selector(narrowed), window.end):
                known = self.prom.label_values(REQUESTS + selector(constraints), label, window.end,
                                               lookback_s=KNOWN_LOOKBACK_S)
                within = f" among {REQUESTS}{selector(constraints)}" if constraints else f" in {REQUESTS}"
                return (f"no series for {label}=\"{value}\"{within}; known: "
                        + (_listed(known) if known else "none in the last hour"))
            constraints = narrowed
        return f"no series for {REQUESTS}{selector(constraints)} in the window (they exist outside it)"

    def _no_envoy_series(self, query: str, window: Window) -> str:
        metric = query.split("{", 1)[0]
        if not self._exists(metric, window.end):
            return MISSING_ENVOY_STATS
        known = [c for c in self.prom.label_values(metric, "cluster_name", window.end, lookback_s=KNOWN_LOOKBACK_S)
                 if c.startswith("outbound|")]
        return f"no series for {query} in the window; known clusters: {_listed(known) or 'none'}"

    def _exists(self, metric_selector: str, at: float) -> bool:
        return bool(self.prom.instant(f"count(last_over_time({metric_selector}[{KNOWN_LOOKBACK_S}s]))", at))


def _listed(values: list[str]) -> str:
    shown = ", ".join(values[:MAX_KNOWN])
    return shown + (f" (and {len(values) - MAX_KNOWN} more)" if len(values) > MAX_KNOWN else "")

