"""report.html: verdicts first, then per hypothesis its plot and the exact queries, then the proof of revert.

Rendered from ``templates/report.html.j2`` (Jinja2, autoescaped); everything the page shows comes
from the run's record (journal, samples, mesh series), so ``harness report --regenerate`` gives the
same page without Prometheus.
"""

from __future__ import annotations

import math
import urllib.parse
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.report._mesh_series import EVENT_LABELS
from harness.report._plots import HypothesisPlot, Marks, client_series, hypothesis_plot, overview_plot
from harness.report._result import QueryRecord, RunResult
from harness.report._revert import revert_proof, spec_diff
from harness.verdict import Verdict

if TYPE_CHECKING:
    import pandas as pd

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass(frozen=True)
class QueryView:
    """A query as sent, when it was evaluated, and the Prometheus page that shows it for that moment or range."""

    purpose: str
    promql: str
    evaluated: str
    graph_url: str


@dataclass(frozen=True)
class Section:
    """One hypothesis (or guardrail): its verdict, plot and queries."""

    anchor: str
    verdict: Verdict
    kind: str  # "hypothesis" or "guardrail"
    plot: str
    queries: list[QueryView]


def render_html(result: RunResult, samples: pd.DataFrame, mesh_series: pd.DataFrame) -> str:
    """The self-contained page (plots inline) for ``result``."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True, undefined=StrictUndefined,
                      trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = number
    env.filters["utc"] = utc
    env.filters["failure"] = describe_failure
    marks = Marks(result.started_at, dict(result.phases), result.fault_active)
    sections = _sections(result, samples, mesh_series, marks)
    proofs = [(change, revert_proof(change), spec_diff(change.before, change.after)) for change in result.changes]
    return env.get_template("report.html.j2").render(
        result=result, outcome=result.outcome.value, sections=sections, proofs=proofs,
        all_proven=all(p.state == "proven" for _, p, _ in proofs), overview=overview_plot(samples, marks),
        prometheus_url=result.prometheus_url, failures=result.experiment.get("failures") or [],
    )


def _sections(result: RunResult, samples: pd.DataFrame, mesh_series: pd.DataFrame, marks: Marks) -> list[Section]:
    declared = {h.get("name"): h for key in ("hypotheses", "guardrails") for h in result.experiment.get(key) or []}
    sections = []
    for number_, (kind, verdict) in enumerate([("hypothesis", v) for v in result.verdicts]
                                              + [("guardrail", v) for v in result.guardrails], start=1):
        spec = declared.get(verdict.name, {})
        if verdict.source == "mesh" and not mesh_series.empty:
            series = mesh_series[mesh_series["hypothesis"] == verdict.name]
        else:
            series = client_series(verdict.measure, verdict.cohort or "all", spec.get("flag"), samples)
        plain = spec.get("versus") is None  # with versus, the bound is on a difference, not on the plotted value
        plot = HypothesisPlot(verdict.name, series, below=spec.get("below") if plain else None,
                              above=spec.get("above") if plain else None, predicted=verdict.predicted,
                              judged=verdict.window, counted=EVENT_LABELS.get(verdict.measure))
        queries = [_query_view(q, result.prometheus_url) for q in result.queries if q.hypothesis == verdict.name]
        sections.append(Section(f"h{number_}", verdict, kind, hypothesis_plot(plot, marks), queries))
    return sections


def _query_view(record: QueryRecord, prometheus_url: str | None) -> QueryView:
    sent = record.sent
    if sent.step_s is None:
        evaluated = f"instant query at {utc(sent.time)} UTC ({sent.time:.3f})"
    else:
        evaluated = (f"range query {utc(sent.start)} to {utc(sent.end)} UTC ({sent.start:.3f} to {sent.end:.3f}), "
                     f"step {sent.step_s:g} s")
    return QueryView(record.purpose, sent.query, evaluated, graph_url(prometheus_url, record) if prometheus_url else "")


def graph_url(prometheus_url: str, record: QueryRecord) -> str:
    """Prometheus's /graph page for the query: the graph over its range, or the table at its evaluation time.

    The parameters are those of Prometheus 2.x's graph page (``g0.expr``, ``g0.tab`` 0 graph / 1 table,
    ``g0.range_input`` as ``<n>s``, ``g0.end_input`` and ``g0.moment_input`` as UTC ``YYYY-MM-DD HH:mm:ss``,
    ``g0.step_input`` in seconds), read by both its classic and its React UI.
    """
    sent = record.sent
    params: dict[str, str] = {"g0.expr": sent.query}
    if sent.step_s is None or sent.start is None or sent.end is None:
        params |= {"g0.tab": "1", "g0.moment_input": utc(sent.time)}
    else:
        end = math.ceil(sent.end / 60) * 60  # the classic UI's end picker keeps minutes only: end on a whole one
        params |= {"g0.tab": "0", "g0.range_input": f"{math.ceil(end - sent.start)}s", "g0.end_input": utc(end),
                   "g0.step_input": f"{max(1, round(sent.step_s))}"}
    return f"{prometheus_url.rstrip('/')}/graph?{urllib.parse.urlencode(params, quote_via=urllib.parse.quote)}"


def describe_failure(failure: dict[str, Any]) -> str:
    """An experiment's ``failures:`` entry as a sentence: which replicas, and how they misbehave."""
    who = str(failure.get("service", "?"))
    if failure.get("version"):
        who += f" {failure['version']}"
    who += f" replica {failure['replica']}" if failure.get("replica") is not None else " (every replica)"
    how = []
    if failure.get("errorRate"):
        status = failure.get("errorStatus") or 503
        how.append(f"answers {status} to {float(failure['errorRate']) * 100:g}% of requests")
    if failure.get("latencyMs"):
        how.append(f"takes {float(failure['latencyMs']):g} ms longer to answer")
    return f"{who} {' and '.join(how) or 'misbehaves'}"


def number(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "-∞"
    if abs(value) < 1e-12:  # floating-point dust, e.g. an interval's lower end at 4e-19 rather than 0
        return "0"
    return f"{value:.4g}"


def utc(timestamp: float | None) -> str:
    return "" if timestamp is None else datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S")

