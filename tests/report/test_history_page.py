"""`harness history --html`: one page a game-day room can read, built from real report folders."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from harness.cli import app
from harness.report import RunResult, load_result, write_reports
from harness.report._history_page import recovered_within_s
from harness.verdict import Outcome, Verdict


def fake_run(root: Path, run_id: str, outcome: Outcome, started: float, *, latency_s: float | None) -> Path:
    """A completed run of 'abort' with one fault-phase and one recovery-phase ('after: 5s') hypothesis."""
    recovery = (started + 20, started + 30)
    result = RunResult("abort", run_id, "exp.yaml", {"metadata": {"name": "abort"}}, status="completed",
                       started_at=started, ended_at=started + 30,
                       phases={"baseline": (started, started + 10), "fault": (started + 10, started + 20),
                               "recovery": recovery},
                       fault_active=(started + 10, started + 20), activation_latency_s=latency_s)
    result.verdicts = [
        Verdict("errors stay low", outcome, "the whole 95% Wilson interval ...", "error_rate", "client", "fault",
                "tagged", 0.01, (0.005, 0.02), "below 0.05", 900, "client samples", (started + 10, started + 20)),
        Verdict("recovers", Outcome.PASS, "back to baseline", "error_rate", "client", "recovery", "tagged", 0.0,
                (0.0, 0.01), "below 0.01", 300, "client samples", (recovery[0] + 5, recovery[1])),
    ]
    samples = pd.DataFrame({"t": [started + i * 0.1 for i in range(300)], "cohort": ["tagged", "control"] * 150,
                            "name": "home", "status": 200, "latency_ms": 5.0, "outcome": "ok"})
    return write_reports(result, samples, root / "reports" / f"{int(started)}-abort")


def three_runs(tmp_path: Path) -> list[Path]:
    now = time.time()
    outcomes = [(Outcome.PASS, 0.02), (Outcome.FAIL, None), (Outcome.FAIL, 0.05)]
    return [fake_run(tmp_path, f"run{i}", outcome, now + i * 86400, latency_s=latency)
            for i, (outcome, latency) in enumerate(outcomes)]


def test_history_page_shows_three_runs_in_order_with_trends(tmp_path: Path) -> None:
    three_runs(tmp_path)
    page_path = tmp_path / "site" / "history.html"
    result = CliRunner().invoke(app, ["history", str(tmp_path / "reports"), "--html", str(page_path)])
    assert result.exit_code == 0, result.output
    page = page_path.read_text()
    cells = re.findall(r'<td class="run (\w+)">\w+<br><small>(\w+)</small>', page)
    assert cells == [("PASS", "run0"), ("FAIL", "run1"), ("FAIL", "run2")]
    plots = re.findall(r'<svg role="img" aria-label="([^"]+)" class="plot" ', page)  # inline, scaled to the column
    assert plots == ["resilience score", "activation latency", "time to recover"]
    assert "run1" in page and "not recorded" in page.split("<h2>Activation latency</h2>")[1].split("<h2>")[0]


def test_history_page_lists_the_outcome_change_with_working_links(tmp_path: Path) -> None:
    folders = three_runs(tmp_path)
    page_path = tmp_path / "site" / "history.html"
    CliRunner().invoke(app, ["history", str(tmp_path / "reports"), "--html", str(page_path)])
    changes = re.findall(r'<li class="change">(.*?)</li>', page_path.read_text(), re.S)
    assert len(changes) == 1 and "PASS &rarr; FAIL" in changes[0]
    links = re.findall(r'<a href="([^"]+)">(\w+)</a>', changes[0])
    assert [run_id for _, run_id in links] == ["run0", "run1"]
    for (href, _), folder in zip(links, folders[:2], strict=True):
        assert not href.startswith("/") and (page_path.parent / href).resolve() == (folder / "report.html").resolve()


def test_history_page_over_an_empty_folder_says_so_and_exits_2(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["history", str(tmp_path), "--html", str(tmp_path / "history.html")])
    assert result.exit_code == 2 and "no runs found" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert not (tmp_path / "history.html").exists()


def test_time_to_recover_comes_from_a_passed_after_hypothesis_and_is_never_invented(tmp_path: Path) -> None:
    result = load_result(fake_run(tmp_path, "run0", Outcome.PASS, time.time(), latency_s=0.02))
    assert recovered_within_s(result) == 5.0
    result.phases.pop("recovery")
    assert recovered_within_s(result) is None
