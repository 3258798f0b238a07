"""report.html as a game-day room reads it: verdicts first, plots per hypothesis, the queries as sent, proof of revert.

The runs here are built from records (no sandbox); tests/test_examples.py checks the same page on the
example suite's real runs.
"""

from __future__ import annotations

import html
import re
import urllib.parse
from pathlib import Path

import pandas as pd

from harness.metrics import SentQuery
from harness.report import Change, QueryRecord, RunResult, load_result, regenerate, write_reports
from harness.verdict import Outcome, Verdict

T0 = 1_790_000_000.0
LONG_QUERY = ('(sum(rate(istio_requests_total{destination_service_name="productcatalog",destination_service_namespace='
              '"shop",reporter="source",response_code=~"5..",source_workload="frontend-v1"}[4s])) or vector(0)) / '
              'sum(rate(istio_requests_total{destination_service_name="productcatalog",destination_service_namespace='
              '"shop",reporter="source",source_workload="frontend-v1"}[4s]))')
VS = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
      "metadata": {"name": "productcatalog", "namespace": "shop", "resourceVersion": "101"},
      "spec": {"hosts": ["productcatalog"], "http": [{"name": "default", "route": [{"destination": {"host": "pc"}}]}]}}


def _with(obj: dict, rv: str, **spec: object) -> dict:
    return {**obj, "metadata": {**obj["metadata"], "resourceVersion": rv}, "spec": {**obj["spec"], **spec}}


FAULTED = _with(VS, "102", http=[{"name": "chaos-abc", "fault": {"abort": {"httpStatus": 503}}}, *VS["spec"]["http"]])


def a_run(*, final: dict | None = VS, predicted: float | None = 0.02) -> RunResult:
    """A completed run: a mesh error-rate hypothesis (with a prediction) and a client one, and one VirtualService."""
    result = RunResult("abort-productcatalog", "abc", "exp.yaml", {
        "metadata": {"name": "abort-productcatalog"},
        "hypotheses": [{"name": "mesh errors stay low", "below": 0.05}, {"name": "shoppers see few errors", "below": 0.1}],
    }, status="completed", started_at=T0, ended_at=T0 + 40, prometheus_url="http://prometheus.example:9090",
        phases={"baseline": (T0, T0 + 10), "fault": (T0 + 10, T0 + 30), "recovery": (T0 + 30, T0 + 40)},
        fault_active=(T0 + 10, T0 + 30), activation_latency_s=0.4, fault_evidence="12 client requests got FI")
    window = (T0 + 11, T0 + 29)
    result.verdicts = [
        Verdict("mesh errors stay low", Outcome.PASS, "the whole 95% Wilson interval is below the bound",
                "error_rate", "mesh", "fault", "all", 0.021, (0.012, 0.034), "below 0.05", 1180,
                f"{LONG_QUERY} (verdict)", window, predicted=predicted, assumptions=("retries: 2 attempts",)),
        Verdict("shoppers see few errors", Outcome.FAIL, "the whole interval is above", "error_rate", "client",
                "fault", "tagged", 0.2, (0.15, 0.25), "below 0.1", 600, "client samples", window),
    ]
    result.queries = [
        QueryRecord("mesh errors stay low", "verdict", SentQuery(LONG_QUERY.replace("[4s]", "[19s]"), time=T0 + 29.5)),
        QueryRecord("mesh errors stay low", "plot", SentQuery(LONG_QUERY, start=T0, end=T0 + 40, step_s=1.0)),
    ]
    result.changes = [Change("shop", "productcatalog", False, VS, FAULTED, "restored", final=final, read_back=True)]
    return result


def samples() -> pd.DataFrame:
    n = 400
    return pd.DataFrame({"t": [T0 + i * 0.1 for i in range(n)], "cohort": ["tagged", "control"] * (n // 2),
                         "name": "home", "status": 200, "latency_ms": 5.0,
                         "outcome": ["ok" if i % 7 else "http_5xx" for i in range(n)]})


def mesh_series() -> pd.DataFrame:
    rows = [("mesh errors stay low", "measure", "error rate", T0 + s, 0.02 if 10 <= s < 30 else 0.0) for s in range(41)]
    rows += [("mesh errors stay low", "events", "retries", T0 + s, 3.0 if 10 <= s < 30 else 0.0) for s in range(41)]
    return pd.DataFrame(rows, columns=["hypothesis", "panel", "series", "t", "value"])


def written(tmp_path: Path, result: RunResult | None = None) -> Path:
    return write_reports(result or a_run(), samples(), tmp_path / "run", mesh_series=mesh_series())


def sections(page: str) -> list[str]:
    return re.findall(r'<section[^>]*id="([^"]+)"', page)


def test_the_verdict_table_comes_first_with_observed_interval_bound_prediction_and_samples(tmp_path: Path) -> None:
    page = (written(tmp_path) / "report.html").read_text()
    assert sections(page)[:2] == ["verdicts", "fault"]
    table = page.split('<table class="verdicts">')[1].split("</table>")[0]
    rows = [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip() for row in table.split("<tr>")[2:]]
    assert rows[0] == "PASS mesh errors stay low error_rate · mesh · fault · all 0.021 [0.012, 0.034] below 0.05 0.02 1180"
    assert rows[1].startswith("FAIL shoppers see few errors") and rows[1].endswith("[0.15, 0.25] below 0.1 — 600")


def test_a_prediction_outside_the_interval_is_flagged_as_a_surprise(tmp_path: Path) -> None:
    page = (written(tmp_path, a_run(predicted=0.3)) / "report.html").read_text()
    assert '0.3 <span class="surprise">surprise</span>' in page
    assert "retries: 2 attempts" in page


def test_each_hypothesis_has_its_own_plot_and_the_mesh_one_its_queries_as_sent(tmp_path: Path) -> None:
    page = (written(tmp_path) / "report.html").read_text()
    mesh, client = page.split('id="h1"')[1].split('id="h2"')
    for section in (mesh, client):
        assert re.search(r'<img alt="[^"]+: its series over the run" src="data:image/png;base64,', section)
    shown = [html.unescape(q) for q in re.findall(r'<pre class="promql">(.*?)</pre>', mesh, re.S)]
    assert shown == [LONG_QUERY.replace("[4s]", "[19s]"), LONG_QUERY]  # verbatim, every character
    assert "instant query at 2026-09-21 14:13:49 UTC (1790000029.500)" in mesh  # the times sent, to the ms
    assert "range query 2026-09-21 14:13:20 to 2026-09-21 14:14:00 UTC (1790000000.000 to 1790000040.000)" in mesh


def test_the_prometheus_links_open_the_query_for_its_moment_or_range(tmp_path: Path) -> None:
    page = (written(tmp_path) / "report.html").read_text()
    links = [html.unescape(u) for u in re.findall(r'<a href="(http://prometheus\.example:9090/graph\?[^"]+)"', page)]
    instant, ranged = (dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(u).query)) for u in links)
    assert instant["g0.expr"] == LONG_QUERY.replace("[4s]", "[19s]") and instant["g0.tab"] == "1"
    assert instant["g0.moment_input"] == "2026-09-21 14:13:49"
    assert ranged["g0.expr"] == LONG_QUERY and ranged["g0.tab"] == "0" and ranged["g0.step_input"] == "1"
    assert ranged["g0.end_input"] == "2026-09-21 14:14:00" and ranged["g0.range_input"] == "40s"  # covers start..end


def test_a_revert_read_back_equal_to_the_original_is_an_empty_diff_said_in_words(tmp_path: Path) -> None:
    page = (written(tmp_path) / "report.html").read_text()
    proof = page.split('<div class="proof proven">')[1].split("</div>")[0]
    assert "reverted, proven" in proof and "original → after the revert: empty diff" in proof
    assert "resourceVersion: before <code>101</code> → with the run&#39;s change <code>102</code>" in proof
    assert "Every changed object was read back after the revert and equals its original" in page


def test_a_revert_that_left_something_shows_what_remained_in_red(tmp_path: Path) -> None:
    left = _with(VS, "103", http=[{"name": "chaos-abc", "fault": {"abort": {"httpStatus": 503}}}, *VS["spec"]["http"]])
    page = (written(tmp_path, a_run(final=left)) / "report.html").read_text()
    proof = page.split('<div class="proof left">')[1].split("</div>")[0]
    assert "NOT reverted" in proof and "+  - fault:" in html.unescape(proof) and "chaos-abc" in proof
    assert "Not every change is proven reverted" in page


def test_the_journal_keeps_queries_and_read_back_so_regenerate_needs_no_prometheus(tmp_path: Path) -> None:
    folder = written(tmp_path)
    first = (folder / "report.html").read_text()
    (folder / "report.html").unlink()
    regenerate(folder)
    again = load_result(folder)
    assert again.queries == a_run().queries and again.changes[0].final == VS
    page = (folder / "report.html").read_text()
    assert page.count("its series over the run") == first.count("its series over the run") == 2
    assert "empty diff" in page


# -- in Chromium, as the room sees it ------------------------------------------------------------------------------


def test_the_report_fits_1280px_without_horizontal_scrolling(tmp_path: Path) -> None:
    from tests.report.chromium import layout

    result = a_run()
    result.notes.append("x" * 400)  # an unbroken note, as an error with a long URL would be
    measured = layout(written(tmp_path, result) / "report.html")
    assert not measured.overflows, measured


def test_the_measurement_catches_a_page_that_overflows(tmp_path: Path) -> None:
    from tests.report.chromium import layout

    page = tmp_path / "wide.html"
    page.write_text(f"<!doctype html><html><body><table><tr><td><code>{LONG_QUERY}</code></td></tr></table></body></html>")
    measured = layout(page)
    assert measured.overflows and measured.scroll_width > 1280 and "code" in measured.too_wide


def test_the_report_prints_to_a4_pages(tmp_path: Path) -> None:
    from tests.report.chromium import is_a4, page_sizes, print_pdf

    pdf = print_pdf(written(tmp_path) / "report.html", tmp_path / "report.pdf")
    sizes = page_sizes(pdf)
    assert pdf.startswith(b"%PDF") and len(sizes) >= 2 and all(is_a4(size) for size in sizes), sizes


def test_the_history_page_fits_1280px_without_horizontal_scrolling(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from harness.cli import app
    from tests.report.chromium import layout

    for day in range(3):
        result = a_run()
        result.started_at += day * 86400
        write_reports(result, samples(), tmp_path / "reports" / f"day{day}", mesh_series=mesh_series())
    page = tmp_path / "history.html"
    ran = CliRunner().invoke(app, ["history", str(tmp_path / "reports"), "--html", str(page)])
    assert ran.exit_code == 0, ran.output
    measured = layout(page)
    assert not measured.overflows, measured


def test_a_real_failure_reads_as_a_sentence_not_as_json() -> None:
    from harness.report._html import describe_failure

    assert describe_failure({"service": "productcatalog", "version": "v1", "replica": 0, "errorRate": 1.0,
                             "errorStatus": None, "latencyMs": None}) == \
        "productcatalog v1 replica 0 answers 503 to 100% of requests"
    assert describe_failure({"service": "cart", "latencyMs": 1000}) == "cart (every replica) takes 1000 ms longer to answer"
