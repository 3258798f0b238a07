"""Write a run's reports: journal.json, junit.xml, summary.md, report.html (plots inline), raw data."""

from __future__ import annotations

import base64
import difflib
import html
import io
import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from harness.errors import ReportError
from harness.report._result import RunResult, RunStatus
from harness.verdict import Outcome

if TYPE_CHECKING:
    import pandas as pd

PHASE_COLOURS = {"baseline": "#e8f0fe", "fault": "#fde8e8", "recovery": "#e8f6ec"}


def report_dir(root: Path, result: RunResult) -> Path:
    stamp = datetime.fromtimestamp(result.started_at or 0, UTC).strftime("%Y%m%d-%H%M%S")
    return root / f"{stamp}-{result.name}"


def write_reports(result: RunResult, samples: pd.DataFrame, folder: Path) -> Path:
    """Write every format into ``folder``; return it."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        samples.to_csv(folder / "samples.csv.gz", index=False, compression="gzip")
        for live in folder.glob("samples.csv*"):  # the load generators' live files, now compressed
            if live.name != "samples.csv.gz":
                live.unlink()
        per_second(samples).to_csv(folder / "timeline.csv", index=False)
        (folder / "journal.json").write_text(json.dumps(journal(result), indent=2))
        write_junit([result], folder / "junit.xml")
        (folder / "summary.md").write_text(summary_markdown(result))
        (folder / "report.html").write_text(render_html(result, samples))
    except OSError as exc:
        raise ReportError(f"cannot write the report in {folder}: {exc}") from None
    return folder


def journal(result: RunResult) -> dict[str, Any]:
    data = asdict(result)
    data["outcome"] = result.outcome.value
    data["verdicts"] = [v.to_dict() for v in result.verdicts]
    data["guardrails"] = [v.to_dict() for v in result.guardrails]
    data["changes"] = [{**asdict(c), "diff": spec_diff(c.before, c.after)} for c in result.changes]
    return data


def spec_diff(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    old = yaml.safe_dump(before["spec"], sort_keys=False).splitlines() if before else []
    new = yaml.safe_dump(after["spec"], sort_keys=False).splitlines()
    return "\n".join(difflib.unified_diff(old, new, "before", "with fault", lineterm=""))


def write_junit(results: Sequence[RunResult], path: Path, *, inconclusive_fails: bool = False) -> None:
    """A testsuite per experiment, a testcase per hypothesis; messages carry the numbers."""
    suites = ET.Element("testsuites", name="istio-chaos-harness")
    for result in results:
        cases = result.verdicts or []
        failures = sum(v.outcome is Outcome.FAIL or (inconclusive_fails and v.outcome is Outcome.INCONCLUSIVE)
                       for v in cases)
        skipped = sum(v.outcome is Outcome.INCONCLUSIVE and not inconclusive_fails for v in cases)
        errors = 1 if result.status in (RunStatus.ERROR, RunStatus.INTERRUPTED, RunStatus.ABORTED) else 0
        suite = ET.SubElement(suites, "testsuite", name=result.name, tests=str(len(cases) + errors),
                              failures=str(failures), errors=str(errors), skipped=str(skipped),
                              time=f"{max(0.0, result.ended_at - result.started_at):.1f}")
        for verdict in cases:
            case = ET.SubElement(suite, "testcase", classname=result.name, name=verdict.name)
            message = verdict_line(verdict)
            if verdict.outcome is Outcome.FAIL or (inconclusive_fails and verdict.outcome is Outcome.INCONCLUSIVE):
                ET.SubElement(case, "failure", message=message, type=verdict.outcome.value).text = verdict.query
            elif verdict.outcome is Outcome.INCONCLUSIVE:
                ET.SubElement(case, "skipped", message=message)
        if errors:
            case = ET.SubElement(suite, "testcase", classname=result.name, name="run")
            ET.SubElement(case, "error", message=f"run {result.status}: {result.error or ''}".strip())
    ET.indent(suites)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def verdict_line(v: Any) -> str:
    value = "n/a" if v.value is None else f"{v.value:.4g}"
    interval = "" if v.interval is None else f" [{v.interval[0]:.4g}, {v.interval[1]:.4g}]"
    return (f"{v.outcome.value}: {v.name}: {v.measure} ({v.source}, {v.phase}, {v.cohort}) = {value}{interval}, "
            f"expected {v.bound}; n={v.samples}; {v.reason}")


def summary_markdown(result: RunResult) -> str:
    icon = {Outcome.PASS: "✅", Outcome.FAIL: "❌", Outcome.INCONCLUSIVE: "⚠️"}
    lines = [f"### {icon[result.outcome]} {result.name}: {result.outcome.value} ({result.status})", ""]
    if result.error:
        lines += [f"> {result.error}", ""]
    lines += ["| | hypothesis | measure | value | interval | expected | n |", "|---|---|---|---|---|---|---|"]
    for v in result.verdicts:
        value = "n/a" if v.value is None else f"{v.value:.4g}"
        interval = "" if v.interval is None else f"[{v.interval[0]:.4g}, {v.interval[1]:.4g}]"
        lines.append(f"| {icon[v.outcome]} | {v.name} | {v.measure} ({v.source}, {v.phase}, {v.cohort}) | {value} "
                     f"| {interval} | {v.bound} | {v.samples} |")
    if result.activation_latency_s is not None:
        lines += ["", f"Fault active {result.activation_latency_s * 1000:.0f} ms after the write; run id "
                      f"`{result.run_id}`."]
    lines += [f"- {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


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


def _plots(result: RunResult, samples: pd.DataFrame) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    timeline = per_second(samples)
    if timeline.empty:
        return "<p>No load samples were recorded.</p>"
    origin = result.started_at
    fig, axes = plt.subplots(3, 1, figsize=(10, 7.5), sharex=True)
    for cohort, rows in timeline.groupby("cohort"):
        x = rows["second"] - origin  # each value covers [second, second + 1): drawn as steps
        axes[0].step(x, rows["requests"], where="post", label=cohort)
        axes[1].step(x, rows["error_rate"] * 100, where="post", label=cohort)
        axes[2].step(x, rows["p95"], where="post", label=f"{cohort} p95")
    for axis, label in zip(axes, ("requests / s", "errors (%)", "latency p95 (ms)"), strict=True):
        axis.set_ylabel(label)
        for phase, (start, end) in result.phases.items():
            axis.axvspan(start - origin, end - origin, color=PHASE_COLOURS.get(phase, "#eee"), zorder=0)
        if result.fault_active:
            axis.axvline(result.fault_active[0] - origin, color="#c00", linestyle="--", linewidth=1)
            axis.axvline(result.fault_active[1] - origin, color="#080", linestyle="--", linewidth=1)
        axis.legend(loc="upper right", fontsize=8)
    axes[2].set_xlabel("seconds since start (shaded: baseline, fault, recovery; dashed: fault active / reverted)")
    return png_img(fig, "timeline")


def png_img(fig: Any, alt: str) -> str:
    """Close a matplotlib figure and return it as an ``<img>`` with the PNG inline, so the page stands alone."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    plt.close(fig)
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode()}">'


def render_html(result: RunResult, samples: pd.DataFrame) -> str:
    """A self-contained page: verdicts, timeline plots, the VirtualService diff."""
    from jinja2 import Environment

    template = Environment(autoescape=True).from_string(_HTML)
    return template.render(
        result=result, outcome=result.outcome.value, plots=_plots(result, samples),
        verdicts=result.verdicts + result.guardrails, diffs=[(c, spec_diff(c.before, c.after)) for c in result.changes],
        escape=html.escape, fmt=lambda v: "n/a" if v is None else f"{v:.4g}",
    )



_HTML = """<!doctype html><html><head><meta charset="utf-8"><title>{{ result.name }}: {{ outcome }}</title>
<style>body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;font-size:14px;text-align:left}.PASS{color:#080}.FAIL{color:#c00}
.INCONCLUSIVE{color:#b60}pre{background:#f6f6f6;padding:1em;overflow:auto}</style></head><body>
<h1>{{ result.name }}: <span class="{{ outcome }}">{{ outcome }}</span></h1>
<p>Run <code>{{ result.run_id }}</code>, status <b>{{ result.status }}</b>{% if result.activation_latency_s is not none %},
fault active {{ '%.0f' % (result.activation_latency_s * 1000) }} ms after the write{% endif %}.</p>
{% if result.error %}<p><b>Error:</b> {{ result.error }}</p>{% endif %}
<h2>Verdicts</h2><table><tr><th>outcome</th><th>hypothesis</th><th>measure</th><th>value</th><th>interval</th>
<th>expected</th><th>n</th><th>reason</th><th>query</th></tr>
{% for v in verdicts %}<tr><td class="{{ v.outcome.value }}">{{ v.outcome.value }}</td><td>{{ v.name }}</td>
<td>{{ v.measure }} ({{ v.source }}, {{ v.phase }}, {{ v.cohort }})</td><td>{{ fmt(v.value) }}</td>
<td>{% if v.interval %}[{{ fmt(v.interval[0]) }}, {{ fmt(v.interval[1]) }}]{% endif %}</td><td>{{ v.bound }}</td>
<td>{{ v.samples }}</td><td>{{ v.reason }}</td><td><code>{{ v.query }}</code></td></tr>{% endfor %}</table>
<h2>Timeline</h2>{{ plots | safe }}
<h2>VirtualService changes</h2>{% for change, diff in diffs %}<h3>{{ change.namespace }}/{{ change.name }}
{% if change.created %}(created for the run){% endif %}: {{ change.restore }}</h3><pre>{{ diff }}</pre>{% endfor %}
{% if result.notes %}<h2>Notes</h2><ul>{% for n in result.notes %}<li>{{ n }}</li>{% endfor %}</ul>{% endif %}
</body></html>"""
