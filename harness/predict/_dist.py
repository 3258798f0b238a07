"""Outcome distributions of one call: a few point masses of (latency, status, Envoy flag, retries...).

The semantics make most outcomes deterministic given the branch a request takes (a fault fires or not, a
host fails or not), so a call's outcome is a short list of branches with probabilities, not a sample.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Branch:
    p: float
    latency_s: float
    status: int = 200
    flag: str = ""                 # the Envoy response flag the caller's proxy sets (UT, FI, UO, URX, UH, NR)
    subset: str | None = None      # the cluster's subset the call went to (None: no cluster, or no subset)
    retries: int = 0               # counters of the caller's proxy for this call
    per_try_timeouts: int = 0
    timeouts: int = 0
    attempts: int = 1              # upstream attempts (0: answered by the proxy itself)

    @property
    def ok(self) -> bool:
        return self.status < 400


Dist = tuple[Branch, ...]


def merged(branches: Iterable[Branch]) -> Dist:
    """Branches with the same outcome added up (latencies to the microsecond); empty ones dropped."""
    found: dict[tuple[object, ...], Branch] = {}
    for b in branches:
        if b.p <= 0:
            continue
        key = (round(b.latency_s, 6), b.status, b.flag, b.subset, b.retries, b.per_try_timeouts, b.timeouts,
               b.attempts)
        found[key] = replace(found[key], p=found[key].p + b.p) if key in found else b
    return tuple(found.values())


def scaled(dist: Dist, p: float) -> list[Branch]:
    return [replace(b, p=b.p * p) for b in dist]


def share(dist: Dist, chosen: Callable[[Branch], bool]) -> float:
    total = sum(b.p for b in dist)
    return sum(b.p for b in dist if chosen(b)) / total if total else 0.0


def mean(dist: Dist, value: Callable[[Branch], float]) -> float:
    total = sum(b.p for b in dist)
    return sum(b.p * value(b) for b in dist) / total if total else 0.0


QUANTILE_EDGE = 0.015  # a quantile this close to a boundary between masses may land on either side in a sample
QUANTILE_Z = 3.0       # sampling noise of a sample's share beyond a quantile, in binomial standard deviations


def quantile(dist: Dist, q: float, count: float | None = None) -> tuple[float, float, float] | None:
    """The q-quantile of the latencies (seconds): value, and the range a sample's quantile may take when q lies
    near the boundary between two masses: within QUANTILE_EDGE, or, for a sample of ``count`` requests, within
    QUANTILE_Z binomial standard deviations sqrt(q(1-q)/count) of it."""
    total = sum(b.p for b in dist)
    if total <= 0:
        return None
    cumulative, running = [], 0.0
    for latency, p in sorted((b.latency_s, b.p / total) for b in dist):
        running += p
        cumulative.append((latency, running))
    last = cumulative[-1][0]
    edge = QUANTILE_EDGE
    if count is not None and count > 0:
        edge = max(edge, QUANTILE_Z * math.sqrt(q * (1 - q) / count))
    value = next((lat for lat, c in cumulative if c >= q - 1e-9), last)
    low = next((lat for lat, c in cumulative if c >= q - edge), last)
    high = next((lat for lat, c in cumulative if c >= q + edge), last)
    return value, low, high
