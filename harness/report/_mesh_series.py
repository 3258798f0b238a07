"""The mesh series a report plots, fetched at judge time and kept in the run folder (``mesh_series.csv.gz``).

For each mesh hypothesis: its measure over the whole run (baseline start to recovery end, one value
per scrape interval) from Prometheus range queries, and the Envoy event counters of the same
upstream cluster (ejections, retries, overflows, timeouts) as events per scrape interval, counted
from the counters' raw samples with Prometheus's reset rule. Stored beside the journal, the page can
be rendered again (``harness report --regenerate``) without Prometheus.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.errors import MetricsError
from harness.experiment import ENVOY_COUNTERS, Hypothesis
from harness.istio import resolve_host
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
from harness.report._result import QueryRecord

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

COLUMNS = ["hypothesis", "panel", "series", "t", "value"]
MEASURE, EVENTS = "measure", "events"  # the two panels of a hypothesis's plot
QUANTILE = {"latency_p50": 0.5, "latency_p95": 0.95, "latency_p99": 0.99}
EVENT_LABELS = {"ejections": "ejections", "retries": "retries", "overflows": "pending overflows",
                "timeouts": "timeouts", "per_try_timeouts": "per-try timeouts"}


@dataclass(frozen=True)
class SeriesPlan:
    """What to fetch for one hypothesis: named PromQL range queries, and Envoy counters counted per scrape."""

    hypothesis: str
    ranged: tuple[tuple[str, str], ...]    # (series name, PromQL for query_range)
    counters: tuple[tuple[str, str], ...]  # (series name, counter selector read as raw samples)


def plan_series(h: Hypothesis, namespace: str, *, step_s: float) -> SeriesPlan:
    """The queries that draw ``h``'s measure and the event counters of its upstream cluster."""
    span = f"{max(4 * step_s, 2.0):g}s"  # a few scrapes per rate(), so every step has two samples to go on
    if h.measure == "promql":
        assert h.query is not None
        return SeriesPlan(h.name, (("query", h.query.replace("$window", span)),), ())
    assert h.service is not None
    sel = MeshSelector(h.service, namespace, reporter=h.reporter, source_workload=h.source_workload,
                       destination_version=h.version)
    counters = tuple((EVENT_LABELS[m], envoy_cluster_stat(stat, resolve_host(h.service, namespace), subset=h.subset,
                                                           pod=h.source_workload))
                     for m, stat in ENVOY_COUNTERS.items())
    total = f"sum(rate({requests(sel)}[{span}]))"
    ranged: list[tuple[str, str]] = []
    if h.measure in ("error_rate", "success_rate", "flag_rate"):
        hits = with_flag(sel, h.flag or "") if h.measure == "flag_rate" else server_errors(sel)
        ratio = f"(sum(rate({hits}[{span}])) or vector(0)) / {total}"
        ranged.append((h.measure.replace("_", " "), f"1 - ({ratio})" if h.measure == "success_rate" else ratio))
    elif h.measure in QUANTILE:
        ranged.append((h.measure.replace("_", " ") + " (ms)", f"histogram_quantile({QUANTILE[h.measure]}, sum by (le) "
                                                               f"(rate({duration_buckets(sel)}[{span}])))"))
    if h.measure not in ENVOY_COUNTERS:
        ranged.append(("requests / s", total))
    return SeriesPlan(h.name, tuple(ranged), counters)


def fetch_series(plan: SeriesPlan, prom: Prometheus, span: Window, *, step_s: float) -> pd.DataFrame:
    """The plan's series over ``span`` as rows of :data:`COLUMNS` (a counter with no series is left out)."""
    import pandas as pd

    frames = []
    for name, query in plan.ranged:
        for series in prom.range(query, span.start, span.end, step_s):
            points = [(float(t), float(v)) for t, v in series["values"]]
            frames.append(pd.DataFrame([(plan.hypothesis, MEASURE, name, t, v) for t, v in points], columns=COLUMNS))
            break  # every plotted query sums to one series
    for name, counter in plan.counters:
        frame = prom.samples(counter, span, edges="outer", interval_s=step_s)
        if frame.empty:
            continue
        events = events_per_step(frame, span, step_s)
        frames.append(events.assign(hypothesis=plan.hypothesis, panel=EVENTS, series=name)[COLUMNS])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS)


def events_per_step(frame: pd.DataFrame, span: Window, step_s: float) -> pd.DataFrame:
    """Counter increments summed over series into ``step_s`` bins (``t`` is a bin's end), resets counted from 0.

    A series' first sample is its starting point, unless it appeared after the span began: then it
    was born during the run (a new pod, a first ejection) and its first value counts.
    """
    import numpy as np
    import pandas as pd

    rows = frame.sort_values(["series", "timestamp"])
    step = rows["value"].diff()
    new_series = rows["series"].ne(rows["series"].shift())
    step = step.where(step >= 0, rows["value"])  # a drop is a reset: the counter restarted from 0
    born = new_series & (rows["timestamp"] > span.start + step_s)
    step = step.where(~new_series, rows["value"].where(born, 0.0))
    edges = np.arange(span.start, span.end + step_s, step_s)
    bins = pd.cut(rows["timestamp"], edges, labels=edges[1:], include_lowest=True)
    summed = step.groupby(bins, observed=False).sum()
    return pd.DataFrame({"t": summed.index.astype(float), "value": summed.to_numpy(dtype=float)})


@dataclass(frozen=True)
class MeshData:
    """What the report keeps of the mesh: the plotted series, the queries that fetched them, what failed."""

    frame: pd.DataFrame
    queries: list[QueryRecord]
    notes: list[str]


def collect_mesh_series(hypotheses: list[Hypothesis], prom: Prometheus, span: Window, *, step_s: float,
                        namespace: str) -> MeshData:
    """Every mesh hypothesis's series over ``span``, each query as sent, and a note for what Prometheus could not give."""
    import pandas as pd

    frames, queries, notes = [], [], []
    for h in hypotheses:
        if h.source != "mesh":
            continue
        with prom.recording() as sent:
            try:
                frames.append(fetch_series(plan_series(h, namespace, step_s=step_s), prom, span, step_s=step_s))
            except MetricsError as exc:
                log.warning("no plot data for %s: %s", h.name, exc.message)
                notes.append(f"{h.name}: no plot data from Prometheus ({exc.message})")
        queries += [QueryRecord(h.name, "plot", q) for q in sent]
    frames = [f for f in frames if not f.empty]
    return MeshData(pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=COLUMNS), queries, notes)
