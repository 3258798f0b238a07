"""How much counters grew in a window, from their raw samples, per series, with Prometheus's reset rule.

A counter sampled at scrape times t0 < t1 < ... tells how many events completed in (t0, t1]: the
events between two scrapes cannot be placed more precisely than that. So a window is counted
between scrape timestamps, chosen per target (pods are scraped at their own offsets):

* ``inner`` edges (rates): from the first scrape at or after the window's start (plus the
  exporter's lag) to the last scrape at or before its end. Every counted event lies inside the
  window; events in the partial scrape intervals at the edges are left out of numerator and
  denominator alike, so a ratio stays unbiased.
* ``outer`` edges (event counters such as ejections): from the last scrape at or before the start
  to the first one at or after the end, so an ejection right at fault start is not lost.

Within the edges each series grows by the sum of its increments; a value lower than the one
before is a counter reset (a restarted sidecar) and counts as growth from 0, the rule Prometheus
applies in ``increase()`` (promql/functions.go, extrapolatedRate). A series first seen after the
target's starting scrape was born in the window and counts from 0; a series that vanishes mid
window counts up to its last sample. Unlike ``increase()`` nothing is extrapolated: the counts
are the whole numbers the statistics need.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.metrics._prometheus import Edges

TARGET_LABELS = ("job", "instance")


@dataclass(frozen=True)
class Growth:
    """Counter growth in a window, summed over series, and the span of samples it covers."""

    total: float
    series: int                     # series with samples in the window
    covered: tuple[float, float] | None  # (earliest starting scrape, latest ending scrape); None: no span
    rate: float                     # growth per second, each target over its own span

    @property
    def covered_s(self) -> float:
        return 0.0 if self.covered is None else max(0.0, self.covered[1] - self.covered[0])


NO_GROWTH = Growth(0.0, 0, None, 0.0)


def samples_frame(result: list[dict[str, Any]], *, keep: tuple[str, ...] = ("le",)) -> pd.DataFrame:
    """Raw samples of a range-vector query as a long frame: ``series`` and ``target`` ids, ``timestamp``, ``value``.

    One block of rows per series, built from numpy arrays; labels stay in the ids (and the ``keep``
    ones as columns). prometheus-api-client's MetricRangeDataFrame copies every label into every
    row, which made a day of 1 s histogram series four times slower to judge.
    """
    import numpy as np

    if not result:
        return pd.DataFrame(columns=["series", "target", "timestamp", "value"])
    targets: dict[tuple[str, ...], int] = {}
    blocks = []
    for number, series in enumerate(result):
        labels = series["metric"]
        target = targets.setdefault(tuple(labels.get(name, "") for name in TARGET_LABELS), len(targets))
        points = np.asarray(series["values"], dtype=float).reshape(-1, 2)
        block = {"series": number, "target": target, "timestamp": points[:, 0], "value": points[:, 1]}
        block.update({name: labels.get(name, "") for name in keep if name in labels})
        blocks.append(pd.DataFrame(block))
    return pd.concat(blocks, ignore_index=True)


def growth(frame: pd.DataFrame, start: float, end: float, *, edges: Edges, lag_s: float = 0.0,
           interval_s: float | None = None, by: str | None = None) -> Growth | dict[str, Growth]:
    """Growth of every series in ``frame`` during [start, end]; with ``by``, one Growth per value of that label.

    ``interval_s`` (the scrape interval) places the scrape before a target's first one when the
    frame holds none: a target whose series all appear inside the window (a new pod, a service's
    first requests) then counts from 0, instead of losing its first scrape's worth.
    """
    if by is not None:
        if frame.empty or by not in frame:
            return {}
        return {str(key): _growth(part, start, end, edges, lag_s, interval_s)
                for key, part in frame.groupby(by, sort=False)}
    return _growth(frame, start, end, edges, lag_s, interval_s)


def _growth(frame: pd.DataFrame, start: float, end: float, edges: Edges, lag_s: float,
            interval_s: float | None) -> Growth:
    if frame.empty:
        return NO_GROWTH
    if "series" not in frame:  # a frame of labels (tests, other sources): number its series and targets
        labels = [c for c in frame.columns if c not in ("timestamp", "value")]
        frame = frame.assign(series=frame.groupby(labels, dropna=False, sort=False).ngroup() if labels else 0)
        targets = [c for c in TARGET_LABELS if c in frame.columns]
        frame = frame.assign(target=frame.groupby(targets, dropna=False, sort=False).ngroup() if targets else 0)
    total, rate, firsts, lasts, seen = 0.0, 0.0, [], [], 0
    for _, rows in frame.groupby("target"):
        span = _span(rows["timestamp"], start, end, edges, lag_s, interval_s)
        if span is None:
            continue
        first, span_start, last = span
        inside = rows[(rows["timestamp"] >= (first if first is not None else -math.inf))
                      & (rows["timestamp"] <= last)].sort_values(["series", "timestamp"])
        grown = _series_growth(inside, first)
        seen += inside["series"].nunique()
        total += grown
        rate += grown / (last - span_start)
        firsts.append(span_start)
        lasts.append(last)
    covered = (min(firsts), max(lasts)) if firsts else None
    return Growth(total, seen, covered, rate)


def _span(times: pd.Series, start: float, end: float, edges: Edges, lag_s: float, interval_s: float | None
          ) -> tuple[float | None, float, float] | None:
    """A target's (starting scrape or None for "from 0", start of the counted span, ending scrape)."""
    if edges == "inner":
        starting, ending = times[times >= start + lag_s], times[times <= end]
        if starting.empty or ending.empty or ending.max() <= starting.min():
            return None
        first, last = float(starting.min()), float(ending.max())
        earlier = times[times < first]
        if earlier.empty and interval_s and first - interval_s >= start + lag_s:
            return None, first - interval_s, last  # no series before: born after the previous scrape, inside
        return first, first, last
    before, after = times[times <= start], times[times >= end]
    last = float(after.min()) if not after.empty else float(times.max())
    if before.empty:
        return None, start, last
    first = float(before.max())
    return (first, first, last) if last > first else None


def _series_growth(inside: pd.DataFrame, first: float | None) -> float:
    """Summed growth of the series in ``inside`` (sorted by series, time) from the scrape ``first``."""
    if inside.empty:
        return 0.0
    values = inside["value"]
    step = values.diff()
    new_series = inside["series"].ne(inside["series"].shift())
    # a drop is a reset: the counter restarted from 0 and grew to the new value
    step = step.where(step >= 0, values)
    # a series' first sample is its baseline when taken at the starting scrape; else it was born since
    born = new_series & (inside["timestamp"] != first) if first is not None else new_series
    step = step.where(~new_series, values.where(born, 0.0))
    return float(step.sum())
