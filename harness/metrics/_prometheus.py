"""Prometheus through prometheus-api-client: exact request counts and latency buckets over a window.

Counts are differences of counters read at the window's two ends (a series born inside the window
counts from 0), which gives the whole numbers the statistics need, unlike ``rate()``'s
extrapolation. Third-party errors are translated into QueryError here, nowhere else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from harness.errors import MetricsError, QueryError

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


class Prometheus:
    def __init__(self, url: str, *, timeout_s: float = 10.0) -> None:
        from prometheus_api_client import PrometheusConnect

        self.url = url
        self._client = PrometheusConnect(url=url, disable_ssl=True, timeout=timeout_s)

    def check(self) -> None:
        try:
            ok = self._client.check_prometheus_connection()
        except Exception as exc:  # the client raises requests' and its own errors
            raise MetricsError(f"Prometheus at {self.url} is unreachable: {exc}") from None
        if not ok:
            raise MetricsError(f"Prometheus at {self.url} is unreachable",
                               hint="check target.prometheusUrl / --prometheus-url")

    def instant(self, query: str, at: float) -> list[dict[str, Any]]:
        try:
            return list(self._client.custom_query(query, params={"time": f"{at:.3f}"}))
        except Exception as exc:
            raise QueryError(f"query failed: {query}: {exc}") from None

    def scalar(self, query: str, at: float) -> float:
        """The value of a query that sums to one series (0 when there is no series yet)."""
        result = self.instant(query, at)
        return float(result[0]["value"][1]) if result else 0.0

    def count(self, metric_selector: str, window: Window) -> float:
        """How much a counter (summed over series) grew during ``window``."""
        query = f"sum({metric_selector})"
        return max(0.0, self.scalar(query, window.end) - self.scalar(query, window.start))

    def bucket_counts(self, metric_selector: str, window: Window) -> list[tuple[float, float]]:
        """Histogram bucket growth during ``window``: sorted [(upper bound ms, cumulative count)]."""
        query = f"sum by (le) ({metric_selector})"
        end = {r["metric"]["le"]: float(r["value"][1]) for r in self.instant(query, window.end)}
        start = {r["metric"]["le"]: float(r["value"][1]) for r in self.instant(query, window.start)}
        rows = [(math.inf if le == "+Inf" else float(le), end[le] - start.get(le, 0.0)) for le in end]
        return sorted(rows)
