"""Prometheus through prometheus-api-client: exact request counts and latency buckets over a window.

Counts come from the raw samples of each series (a range-vector query into a pandas frame), with
window edges on scrape timestamps and Prometheus's reset rule (see _counters): whole numbers, unlike
``rate()``'s extrapolation, and right when sidecars restart or pods come and go. Third-party errors
are translated into QueryError here, nowhere else.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from harness.errors import MetricsError, QueryError
from harness.istio import parse_duration_s

if TYPE_CHECKING:
    import pandas as pd

    from harness.metrics._counters import Growth

Edges = Literal["inner", "outer"]

REQUESTS = "istio_requests_total"
DURATION_BUCKETS = "istio_request_duration_milliseconds_bucket"


def escape_label(value: str) -> str:
    """Escape a value for a PromQL double-quoted label matcher."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def selector(labels: dict[str, str], regex: dict[str, str] | None = None) -> str:
    """``{a="x",b=~"y"}`` with escaped values, in a stable order."""
    parts = [f'{k}="{escape_label(v)}"' for k, v in sorted(labels.items())]
    parts += [f'{k}=~"{escape_label(v)}"' for k, v in sorted((regex or {}).items())]
    return "{" + ",".join(parts) + "}"


@dataclass(frozen=True)
class Window:
    start: float
    end: float

    @property
    def seconds(self) -> float:
        return max(0.0, self.end - self.start)


@dataclass(frozen=True)
class SentQuery:
    """One request to Prometheus's query API, as sent: the PromQL and its evaluation time, or range and step."""

    query: str
    time: float | None = None    # /api/v1/query: the evaluation time
    start: float | None = None   # /api/v1/query_range: start, end, step
    end: float | None = None
    step_s: float | None = None

    @property
    def api(self) -> str:
        return "query" if self.step_s is None else "query_range"


class Prometheus:
    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        from prometheus_api_client import PrometheusConnect

        self.url = url
        self._client = PrometheusConnect(url=url, disable_ssl=True, timeout=timeout_s)
        self._recorders = threading.local()  # per thread: a verdict's queries, not a guardrail's on another thread

    @contextlib.contextmanager
    def recording(self) -> Iterator[list[SentQuery]]:
        """Collect every query this thread sends inside the block, exactly as it goes out (recordings nest)."""
        sent: list[SentQuery] = []
        stack = self._recorders.__dict__.setdefault("stack", [])
        stack.append(sent)
        try:
            yield sent
        finally:
            stack.remove(sent)

    def _sent(self, query: SentQuery) -> None:
        for sent in self._recorders.__dict__.get("stack", []):
            sent.append(query)

    def check(self) -> None:
        try:
            ok = self._client.check_prometheus_connection()
        except Exception as exc:  # the client raises requests' and its own errors
            raise MetricsError(f"Prometheus at {self.url} is unreachable: {exc}") from None
        if not ok:
            raise MetricsError(f"Prometheus at {self.url} is unreachable",
                               hint="check target.prometheusUrl / --prometheus-url")

    def instant(self, query: str, at: float) -> list[dict[str, Any]]:
        at = round(at, 3)  # what goes on the wire
        self._sent(SentQuery(query, time=at))
        try:
            return list(self._client.custom_query(query, params={"time": f"{at:.3f}"}))
        except Exception as exc:
            raise QueryError(f"query failed: {query}: {exc}") from None

    def range(self, query: str, start: float, end: float, step_s: float) -> list[dict[str, Any]]:
        """A range query (``/api/v1/query_range``): one value per step from ``start`` to ``end``."""
        start, end = round(start, 3), round(end, 3)
        self._sent(SentQuery(query, start=start, end=end, step_s=step_s))
        # the client rounds start and end to whole seconds; the params sent override that with the exact times
        exact = {"start": f"{start:.3f}", "end": f"{end:.3f}"}
        try:
            return list(self._client.custom_query_range(query, datetime.fromtimestamp(start, UTC),
                                                        datetime.fromtimestamp(end, UTC), f"{step_s:g}s",
                                                        params=exact))
        except Exception as exc:
            raise QueryError(f"range query failed: {query}: {exc}") from None

    def scalar(self, query: str, at: float) -> float:
        """The value of a query that sums to one series (0 when there is no series yet)."""
        result = self.instant(query, at)
        return float(result[0]["value"][1]) if result else 0.0

    def samples(self, metric_selector: str, window: Window, *, edges: Edges, interval_s: float) -> pd.DataFrame:
        """Raw samples of ``metric_selector`` around ``window``: enough before and after it for ``edges``."""
        before = interval_s + 1.0  # a scrape before the window tells existing series from ones born in it
        at = window.end + (interval_s + 1.0 if edges == "outer" else 0.0)
        reach = math.ceil(at - (window.start - before)) + 1
        result = self.instant(f"{metric_selector}[{reach}s]", at)
        from harness.metrics._counters import samples_frame  # pandas: imported when a verdict needs it

        return samples_frame(list(result))

    def growth(self, metric_selector: str, window: Window, *, edges: Edges = "inner", interval_s: float = 1.0,
               lag_s: float = 0.0) -> Growth:
        """How much a counter, summed over its series, grew during ``window`` (see _counters)."""
        from harness.metrics._counters import growth

        frame = self.samples(metric_selector, window, edges=edges, interval_s=interval_s)
        return growth(frame, window.start, window.end, edges=edges, lag_s=lag_s,  # type: ignore[return-value]
                      interval_s=interval_s)

    def bucket_growth(self, metric_selector: str, window: Window, *, interval_s: float = 1.0, lag_s: float = 0.0
                      ) -> list[tuple[float, float]]:
        """Histogram bucket growth during ``window``: sorted [(upper bound ms, cumulative count)]."""
        from harness.metrics._counters import growth

        frame = self.samples(metric_selector, window, edges="inner", interval_s=interval_s)
        per_le = growth(frame, window.start, window.end, edges="inner", lag_s=lag_s, interval_s=interval_s, by="le")
        assert isinstance(per_le, dict)
        return sorted((math.inf if le == "+Inf" else float(le), g.total) for le, g in per_le.items())

    def label_values(self, metric_selector: str, label: str, at: float, *, lookback_s: float = 3600) -> list[str]:
        """Values ``label`` takes among the series of ``metric_selector`` seen in the last ``lookback_s``."""
        query = f"count by ({label}) (last_over_time({metric_selector}[{int(lookback_s)}s]))"
        return sorted({str(r["metric"].get(label, "")) for r in self.instant(query, at)} - {""})

    def scrape_interval_s(self, metric_names: list[str], at: float) -> float | None:
        """The longest scrape interval among the jobs exporting ``metric_names`` (Prometheus's targets API).

        Before any of them has a series (a fresh cluster, no traffic yet) every active target counts:
        the longest interval is the safe guess for judging windows.
        """
        jobs: set[str] = set()
        for name in metric_names:
            jobs |= set(self.label_values(name, "job", at))
        try:
            targets = self._client.get_targets(state="active")["activeTargets"]
        except Exception as exc:
            raise QueryError(f"could not read Prometheus's targets: {exc}") from None
        intervals = [parse_duration_s(t["scrapeInterval"]) for t in targets
                     if t.get("scrapeInterval") and (not jobs or t.get("labels", {}).get("job") in jobs)]
        return max(intervals) if intervals else None
