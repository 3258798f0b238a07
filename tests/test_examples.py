"""Every example experiment in experiments/sandbox/ gives the verdicts it was designed to give."""

from __future__ import annotations

import html
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.suite import run_suite
from harness.verdict import Outcome
from tests.conftest import sandbox_target

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]
EXAMPLES = Path(__file__).resolve().parents[1] / "experiments" / "sandbox"
DESIGNED = {
    "01-run-scoped-abort.yaml": Outcome.PASS,
    "02-timeout-protects-frontend.yaml": Outcome.PASS,
    "03-same-route-timeout-FAILS.yaml": Outcome.FAIL,
    "04-retries-mask-flaky-replica.yaml": Outcome.PASS,
    "05-retries-off-FAILS.yaml": Outcome.FAIL,
    "06-outlier-detection-ejects.yaml": Outcome.PASS,
    "07-circuit-breaker-sheds-load.yaml": Outcome.PASS,
}

# what lint says before the run, for the experiments designed to fail: the reason each fails (issue 13)
LINT_NAMES_THE_REASON = {
    "03-same-route-timeout-FAILS.yaml": "HL101",  # the delay is not cut by the same route's timeout
    "05-retries-off-FAILS.yaml": "HL103",  # retries off, no outlier detection: the failures reach the shoppers
}


def test_every_example_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.yaml")) == sorted(DESIGNED)


@pytest.mark.parametrize("name", sorted(DESIGNED))
def test_example_gives_its_designed_verdict(demo: Any, tmp_path: Path, name: str) -> None:
    target = sandbox_target(demo)
    suite = run_suite([EXAMPLES / name], target, report_root=tmp_path, progress=lambda _: None)
    ((result, folder),) = suite.runs
    assert result.status == "completed"
    assert result.outcome is DESIGNED[name], [(v.name, v.outcome, v.reason) for v in result.verdicts]
    assert all(c.restore in ("restored", "deleted") for c in result.changes), result.changes
    lint_errors = {f["code"] for f in result.lint if f["severity"] == "error"}
    assert lint_errors == ({LINT_NAMES_THE_REASON[name]} if name in LINT_NAMES_THE_REASON else set()), result.lint
    # harness predict (issue 13): every verdict carries its prediction, and the observation agrees with it, also
    # for the experiments designed to FAIL (the prediction says what happens, not what the author hoped)
    assert all(v.predicted is not None for v in result.verdicts), [(v.name, v.details) for v in result.verdicts]
    surprises = [(v.name, v.predicted, v.predicted_range, v.interval) for v in result.verdicts if v.surprise]
    assert not surprises, surprises
    check_report(result, folder)


def check_report(result: Any, folder: Path) -> None:
    """The run's report.html shows the mesh plots, the exact PromQL sent, an empty revert diff, and fits 1280 px."""
    from markupsafe import escape  # as the page's template escapes

    from harness.report import RevertState, revert_proof

    page = (folder / "report.html").read_text()
    shown = {html.unescape(q) for q in re.findall(r'<pre class="promql">(.*?)</pre>', page, re.S)}
    for verdict in (v for v in result.verdicts if v.source == "mesh"):
        sent = [q for q in result.queries if q.hypothesis == verdict.name]
        assert {q.purpose for q in sent} == {"verdict", "plot"}, sent
        assert {q.sent.query for q in sent} <= shown  # every query verbatim, as it went to Prometheus
        section = page.split(f"</span> {escape(verdict.name)}</h2>")[1].split("</section>")[0]
        assert ": its series over the run\" src=\"data:image/png;base64," in section
    assert all(revert_proof(c).state is RevertState.PROVEN for c in result.changes), result.changes
    assert page.count("original → after the revert: empty diff") == len(result.changes)
    if shutil.which("chromium"):
        from tests.report.chromium import layout

        measured = layout(folder / "report.html")
        assert not measured.overflows, measured
