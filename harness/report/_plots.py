"""The report's plots (matplotlib, inline PNG): the load's timeline and one plot per hypothesis.

Every plot shares the run's marks: phases shaded (baseline, fault, recovery), the fault's
activation and revert as vertical lines, the judged window bracketed; a hypothesis's plot adds its
bound and, when ``harness predict`` gave one, the predicted value.
"""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

PHASE_COLOURS = {"baseline": "#e8f0fe", "fault": "#fde0e0", "recovery": "#e8f6ec"}
ACTIVE, REVERTED, BOUND, PREDICTED = "#c00000", "#008000", "#333333", "#7b3fb5"
WIDTH_IN, DPI = 10.0, 96  # 960 px: the page's column, and A4's printable width at print scale
QUANTILES = {"latency_p50": 0.5, "latency_p95": 0.95, "latency_p99": 0.99}


@dataclass(frozen=True)
class Marks:
    """The run's timeline in epoch seconds; plots count seconds from ``origin``."""

    origin: float
    phases: dict[str, tuple[float, float]]
    fault_active: tuple[float, float] | None


@dataclass(frozen=True)
class HypothesisPlot:
    """What one hypothesis's plot draws: its series (``panel``, ``series``, ``t``, ``value`` rows) and lines."""

    name: str
    series: pd.DataFrame
    below: float | None = None   # the bound, when it applies to the plotted value (not to a difference)
    above: float | None = None
    predicted: float | None = None
    judged: tuple[float, float] | None = None
    counted: str | None = None   # an event counter's measure: the events series whose running total the bound is on


def per_second(samples: pd.DataFrame) -> pd.DataFrame:
    """Per-second, per-cohort timeline: requests, errors, error rate, p50/p95/p99 latency."""
    import pandas as pd

    if samples.empty:
        return pd.DataFrame(columns=["second", "cohort", "requests", "errors", "error_rate", "p50", "p95", "p99"])
    frame = samples.assign(second=samples["t"].astype(float).floordiv(1).astype(int),
                           error=(samples["outcome"] != "ok").astype(int))
    grouped = frame.groupby(["second", "cohort"])
    timeline = grouped.agg(requests=("error", "size"), errors=("error", "sum")).reset_index()
    quantiles = grouped["latency_ms"].quantile([0.5, 0.95, 0.99]).unstack().reset_index()
    quantiles.columns = ["second", "cohort", "p50", "p95", "p99"]
    timeline = timeline.merge(quantiles, on=["second", "cohort"])
    timeline["error_rate"] = timeline["errors"] / timeline["requests"]
    return timeline


def client_series(measure: str, cohort: str, flag: str | None, samples: pd.DataFrame) -> pd.DataFrame:
    """A client hypothesis's measure per second from the load's record (``t`` is each second's start)."""
    import pandas as pd

    rows = samples if cohort == "all" or samples.empty else samples[samples["cohort"] == cohort]
    if rows.empty:
        return pd.DataFrame(columns=["panel", "series", "t", "value"])
    seconds = rows.assign(second=rows["t"].astype(float).floordiv(1))
    grouped = seconds.groupby("second")
    if measure in QUANTILES:
        name, values = f"{measure.replace('_', ' ')} (ms)", grouped["latency_ms"].quantile(QUANTILES[measure])
    elif measure == "latency_shift":
        name, values = "latency p50 (ms)", grouped["latency_ms"].median()
    elif measure == "request_rate":
        name, values = "requests / s", grouped.size().astype(float)
    else:
        hit = {"error_rate": rows["outcome"] != "ok", "success_rate": rows["outcome"] == "ok",
               "flag_rate": rows["outcome"] == flag}.get(measure, rows["outcome"] != "ok")
        name, values = measure.replace("_", " "), hit.groupby(seconds["second"]).mean()
    return pd.DataFrame({"panel": "measure", "series": name, "t": values.index.astype(float),
                         "value": values.to_numpy(dtype=float)})


def hypothesis_plot(plot: HypothesisPlot, marks: Marks) -> str:
    """The hypothesis's measure over the run (and the Envoy events of its cluster, when any), as an ``<img>``."""
    if plot.series.empty:
        return ""
    plt = _pyplot()
    series = _quiet_counters_dropped(_concat(plot.series, _running_total(plot)), plot.counted)
    panels = [p for p in ("measure", "events") if (series["panel"] == p).any()]
    fig, axes = plt.subplots(len(panels), 1, figsize=(WIDTH_IN, 2.6 * len(panels) + 0.4), sharex=True, squeeze=False)
    for axis, panel in zip(axes[:, 0], panels, strict=True):
        rows = series[series["panel"] == panel]
        twin = None
        for name, part in rows.groupby("series", sort=False):
            x = part["t"].astype(float) - marks.origin
            if panel == "events":
                axis.step(x, part["value"], where="pre", label=f"{name} per scrape")
            elif name == "requests / s" and rows["series"].nunique() > 1:  # another scale: its own axis, in grey
                twin = axis.twinx()
                twin.plot(x, part["value"], color="#999", linewidth=1, label=str(name))
                twin.set_ylabel("requests / s", color="#777")
                twin.set_ylim(bottom=0)
            else:
                axis.plot(x, part["value"], label=str(name), linewidth=1.4, drawstyle="steps-post"
                          if name.startswith("running total") else "default")
        _mark(axis, marks, plot.judged)
        if panel == "measure":
            _lines(axis, plot)
        handles, labels = axis.get_legend_handles_labels()
        if twin is not None:
            more = twin.get_legend_handles_labels()
            handles, labels = handles + more[0], labels + more[1]
        axis.legend(handles, labels, loc="upper left", fontsize=8, framealpha=0.85)
        axis.set_ylabel("events" if panel == "events" else "value")
        if (rows["value"].astype(float) >= 0).all() and (plot.above is None or plot.above >= 0):
            axis.set_ylim(bottom=0)  # rates and counts: a flat zero line would otherwise sit mid-axis at -0.04..0.04
    axes[-1, 0].set_xlabel("seconds since the run started")
    return png_img(fig, f"{plot.name}: its series over the run")


def _concat(*frames: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    kept = [f for f in frames if not f.empty]
    return pd.concat(kept, ignore_index=True) if kept else frames[0]


def _running_total(plot: HypothesisPlot) -> pd.DataFrame:
    """An event counter's running total from the judged window's start: what its bound is compared with."""
    events = plot.series[(plot.series["panel"] == "events") & (plot.series["series"] == plot.counted)]
    if plot.counted is None or plot.judged is None or events.empty:
        return plot.series.iloc[0:0]
    start, end = plot.judged
    inside = events[(events["t"].astype(float) > start) & (events["t"].astype(float) <= end + 1e-6)]
    return inside.assign(panel="measure", series=f"running total of {plot.counted} in the judged window",
                         value=inside["value"].astype(float).cumsum())


def _quiet_counters_dropped(series: pd.DataFrame, keep: str | None) -> pd.DataFrame:
    """Event counters that stayed at zero the whole run say nothing: only the hypothesis's own one stays."""
    events = series[series["panel"] == "events"]
    quiet = {name for name, part in events.groupby("series") if not part["value"].astype(float).any()} - {keep}
    return series[~((series["panel"] == "events") & series["series"].isin(quiet))]


def overview_plot(samples: pd.DataFrame, marks: Marks) -> str:
    """The load as the client saw it: requests, errors and p95 latency per second and cohort."""
    timeline = per_second(samples)
    if timeline.empty:
        return ""
    plt = _pyplot()
    fig, axes = plt.subplots(3, 1, figsize=(WIDTH_IN, 6.5), sharex=True)
    for cohort, rows in timeline.groupby("cohort"):
        x = rows["second"] - marks.origin  # each value covers [second, second + 1): drawn as steps
        axes[0].step(x, rows["requests"], where="post", label=cohort)
        axes[1].step(x, rows["error_rate"] * 100, where="post", label=cohort)
        axes[2].step(x, rows["p95"], where="post", label=f"{cohort} p95")
    for axis, label in zip(axes, ("requests / s", "errors (%)", "latency p95 (ms)"), strict=True):
        axis.set_ylabel(label)
        _mark(axis, marks, None)
        axis.legend(loc="upper right", fontsize=8)
    axes[2].set_xlabel("seconds since the run started")
    return png_img(fig, "timeline")


def _mark(axis: Any, marks: Marks, judged: tuple[float, float] | None) -> None:
    for phase, (start, end) in marks.phases.items():
        axis.axvspan(start - marks.origin, end - marks.origin, color=PHASE_COLOURS.get(phase, "#eee"), zorder=0)
    if marks.fault_active:
        axis.axvline(marks.fault_active[0] - marks.origin, color=ACTIVE, linestyle="--", linewidth=1,
                     label="fault active")
        axis.axvline(marks.fault_active[1] - marks.origin, color=REVERTED, linestyle="--", linewidth=1,
                     label="reverted")
    if judged:
        axis.axvspan(judged[0] - marks.origin, judged[1] - marks.origin, ymin=0, ymax=0.04, color="#444",
                     label="judged window")


def _lines(axis: Any, plot: HypothesisPlot) -> None:
    for bound, word in ((plot.below, "below"), (plot.above, "above")):
        if bound is not None:
            axis.axhline(bound, color=BOUND, linestyle=":", linewidth=1.4, label=f"bound: {word} {bound:g}")
    if plot.predicted is not None:
        axis.axhline(plot.predicted, color=PREDICTED, linestyle="-.", linewidth=1.2,
                     label=f"predicted {plot.predicted:.4g}")


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display, and no GUI toolkit imported
    import matplotlib.pyplot as plt

    return plt


def png_img(fig: Any, alt: str) -> str:
    """Close a matplotlib figure and return it as an ``<img>`` with the PNG inline, so the page stands alone."""
    plt = _pyplot()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    plt.close(fig)
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'
