"""The history page: outcomes, resilience score, activation latency and recovery trends across runs, as one HTML file."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.errors import ReportError
from harness.report._history import Run
from harness.report._result import RunResult
from harness.verdict import Outcome

# The journal records no measured recovery time, only verdicts; this is what the page derives instead, and says so.
RECOVERY_SOURCE = ("taken from recovery-phase hypotheses judged with 'after:' that passed: the run had recovered "
                   "within that many seconds of the revert (an upper bound, not a measured time)")

Measure = Callable[[RunResult], "float | None"]


@dataclass(frozen=True)
class OutcomeChange:
    experiment: str
    before: Run
    after: Run


def write_history_page(runs: list[Run], path: Path) -> Path:
    """Write the history of ``runs`` (from report folders or the history store) as one HTML page at ``path``."""
    if not runs:
        raise ReportError("no runs found: no folder holds a readable journal.json and no store holds a run",
                          hint="pass the folders 'harness run' or 'harness suite' wrote reports into, or "
                               "--store with the file 'harness run --history-store' appends to")
    runs = sorted(runs, key=lambda r: r.result.started_at)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_history_page(runs, path.parent))
    return path


def render_history_page(runs: list[Run], page_dir: Path) -> str:
    """The page's HTML; links to each run's report.html are relative to ``page_dir``."""
    from jinja2 import Environment

    game_days = _game_days(runs)
    experiments = sorted({r.result.name for r in runs})
    template = Environment(autoescape=True).from_string(_HTML)
    return template.render(
        runs=runs, game_days=game_days, experiments=experiments, table=_outcome_table(experiments, game_days),
        changes=outcome_changes(runs), score_plot=_score_plot(game_days),
        latency_plot=_trend_plot(runs, activation_latency_ms, "activation latency (ms)", "activation latency"),
        latency_missing=_missing(runs, activation_latency_ms),
        recovery_plot=_trend_plot(runs, recovered_within_s, "recovered within (s)", "time to recover"),
        recovery_missing=_missing(runs, recovered_within_s), recovery_source=RECOVERY_SOURCE,
        link=lambda run: _link(run, page_dir),
    )


def _link(run: Run, page_dir: Path) -> str | None:
    """The run's report.html relative to the page, or None once the report folder was pruned (the store remains)."""
    report = run.folder / "report.html"
    return Path(os.path.relpath(report, page_dir)).as_posix() if report.exists() else None


def _game_days(runs: list[Run]) -> list[list[Run]]:
    """Runs grouped by suite run (a single run is its own group), oldest first."""
    groups: dict[str, list[Run]] = {}
    for run in runs:
        groups.setdefault(run.game_day, []).append(run)
    return list(groups.values())


def resilience_score(group: list[Run]) -> float:
    """Share of hypotheses that passed, in percent (as SuiteResult.score counts it)."""
    verdicts = [v for run in group for v in run.result.verdicts]
    return 100.0 * sum(v.outcome is Outcome.PASS for v in verdicts) / len(verdicts) if verdicts else 0.0


def _outcome_table(experiments: list[str], game_days: list[list[Run]]) -> list[tuple[str, list[Run | None]]]:
    """Experiment rows by game-day columns; the cell is that experiment's last run of the day, if any."""
    table = []
    for name in experiments:
        cells = [next((r for r in reversed(group) if r.result.name == name), None) for group in game_days]
        table.append((name, cells))
    return table


def outcome_changes(runs: list[Run]) -> list[OutcomeChange]:
    """Each time an experiment's outcome differs from its previous run, oldest first."""
    previous: dict[str, Run] = {}
    changes = []
    for run in runs:
        before = previous.get(run.result.name)
        if before is not None and before.result.outcome is not run.result.outcome:
            changes.append(OutcomeChange(run.result.name, before, run))
        previous[run.result.name] = run
    return changes


def activation_latency_ms(result: RunResult) -> float | None:
    """Milliseconds from the VirtualService write until the fault was seen active, when recorded."""
    return None if result.activation_latency_s is None else result.activation_latency_s * 1000


def recovered_within_s(result: RunResult) -> float | None:
    """The shortest 'after:' offset of a passed recovery-phase hypothesis (see RECOVERY_SOURCE), when there is one."""
    recovery = result.phases.get("recovery")
    if recovery is None:
        return None
    offsets = [v.window[0] - recovery[0] for v in result.verdicts
               if v.phase == "recovery" and v.outcome is Outcome.PASS and v.window and v.window[0] > recovery[0]]
    return min(offsets) if offsets else None


def _missing(runs: list[Run], measure: Measure) -> list[Run]:
    return [run for run in runs if measure(run.result) is None]


def _score_plot(game_days: list[list[Run]]) -> str:
    fig, axis = _date_axes()
    times = [_plot_time(group[0].result.started_at) for group in game_days]
    axis.plot(times, [resilience_score(group) for group in game_days], marker="o")
    axis.set_ylim(-5, 105)
    axis.set_ylabel("hypotheses passed (%)")
    return svg_figure(fig, "resilience score")


def _date_axes() -> tuple[Any, Any]:
    """A wide, short figure whose x axis shows UTC dates (runs are days or weeks apart)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.dates as mdates
    import matplotlib.pyplot as plt

    fig, axis = plt.subplots(figsize=(10, 3))
    # The concise formatter labels each tick only as finely as the spacing needs (no repeated dates for hours apart).
    locator = mdates.AutoDateLocator(tz=UTC)
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=UTC))
    fig.autofmt_xdate()
    return fig, axis


def _plot_time(timestamp: float) -> float:
    import matplotlib.dates as mdates

    return float(mdates.date2num(datetime.fromtimestamp(timestamp, UTC)))


def _trend_plot(runs: list[Run], measure: Measure, label: str, alt: str) -> str:
    """One line per experiment over the runs that recorded ``measure``; a sentence when none did."""
    series: dict[str, list[tuple[float, float]]] = {}
    for run in runs:
        value = measure(run.result)
        if value is not None:
            series.setdefault(run.result.name, []).append((_plot_time(run.result.started_at), value))
    if not series:
        return f"<p>{alt}: not recorded in any run.</p>"
    fig, axis = _date_axes()
    for name, points in series.items():
        axis.plot([t for t, _ in points], [v for _, v in points], marker="o", label=name)
    axis.set_ylabel(label)
    axis.legend(loc="best", fontsize=8)
    return svg_figure(fig, alt)


def svg_figure(fig: Any, alt: str) -> str:
    """The figure as inline SVG that scales to the page's column, labelled for screen readers; the figure is closed."""
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]  # inline: no XML declaration or doctype
    svg = re.sub(r'<svg ([^>]*?)width="[^"]*" height="[^"]*"', r'<svg \1', svg, count=1)
    return svg.replace("<svg ", f'<svg role="img" aria-label="{alt}" class="plot" ', 1)


# Fits 1280 px: a max-width column, tables that wrap, images scaled to the column; cells carry the word as well as
# the colour so the page prints and reads in greyscale.
_HTML = """<!doctype html><html><head><meta charset="utf-8"><title>Chaos experiment history</title>
<style>body{font-family:system-ui,sans-serif;margin:2em auto;padding:0 1em;max-width:1100px}
table{border-collapse:collapse;max-width:100%}td,th{border:1px solid #ccc;padding:4px 6px;font-size:13px;
text-align:left;overflow-wrap:anywhere}svg.plot{width:100%;height:auto;max-width:100%}.PASS{background:#e3f4e6}
.FAIL{background:#fbe0e0}.INCONCLUSIVE{background:#fdf0d8}small{color:#555}</style></head><body>
{% macro run_link(run) %}{% if link(run) %}<a href="{{ link(run) }}">{{ run.result.run_id }}</a>{% else %}
{{- run.result.run_id }} <small>(report pruned)</small>{% endif %}{% endmacro %}
<h1>Chaos experiment history</h1>
<p>{{ runs | length }} runs of {{ experiments | length }} experiment{{ '' if experiments | length == 1 else 's' }},
{{ runs[0].when }} to {{ runs[-1].when }} (UTC), oldest first.</p>
<h2>Resilience score</h2><p>Share of hypotheses that passed, per suite run (a single run counts alone).</p>
{{ score_plot | safe }}
<h2>Outcomes</h2><table><tr><th>experiment</th>{% for group in game_days %}<th>{{ group[0].when }}</th>{% endfor %}</tr>
{% for name, cells in table %}<tr><td>{{ name }}</td>{% for run in cells %}{% if run %}
<td class="run {{ run.result.outcome.value }}">{{ run.result.outcome.value }}<br><small>{{ run.result.run_id }}</small>
</td>{% else %}<td>not run</td>{% endif %}{% endfor %}</tr>{% endfor %}</table>
<h2>Runs that changed outcome</h2>{% if changes %}<ul>{% for c in changes %}<li class="change"><b>{{ c.experiment }}</b>:
{{ c.before.result.outcome.value }} &rarr; {{ c.after.result.outcome.value }}, from run
{{ run_link(c.before) }} ({{ c.before.when }}) to run {{ run_link(c.after) }} ({{ c.after.when }})</li>{% endfor %}</ul>
{% else %}<p>No experiment changed outcome.</p>{% endif %}
<h2>Activation latency</h2><p>From the VirtualService write until the fault was seen active.</p>
{{ latency_plot | safe }}{% for run in latency_missing %}<p>{{ run.result.name }} {{ run.result.run_id }}
({{ run.when }}): not recorded.</p>{% endfor %}
<h2>Time to recover</h2><p>Time to recover is {{ recovery_source }}.</p>
{{ recovery_plot | safe }}{% for run in recovery_missing %}<p>{{ run.result.name }} {{ run.result.run_id }}
({{ run.when }}): not recorded.</p>{% endfor %}
</body></html>"""
