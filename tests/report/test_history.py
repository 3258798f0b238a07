"""Reports read back: regenerate from the journal, history over several runs, valid JUnit."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pandas as pd
from typer.testing import CliRunner

from harness.cli import app
from harness.report import RunResult, history, load_result, regenerate, trends, write_reports
from harness.verdict import Outcome, Verdict


def fake_run(root: Path, name: str, outcome: Outcome, started: float) -> Path:
    result = RunResult(name, "abcd1234", "exp.yaml", {"metadata": {"name": name}}, status="completed",
                       started_at=started, ended_at=started + 30, phases={"baseline": (started, started + 10)},
                       fault_active=(started + 10, started + 20), activation_latency_s=0.02)
    result.verdicts = [Verdict("errors stay low", outcome, "the whole 95% Wilson interval ...", "error_rate",
                               "client", "fault", "tagged", 0.01, (0.005, 0.02), "below 0.05", 900,
                               "client samples", (started + 10, started + 20))]
    samples = pd.DataFrame({"t": [started + i * 0.1 for i in range(300)], "cohort": ["tagged", "control"] * 150,
                            "name": "home", "status": 200, "latency_ms": 5.0, "outcome": "ok"})
    return write_reports(result, samples, root / f"{int(started)}-{name}")


def test_history_over_three_runs_and_trends(tmp_path: Path) -> None:
    now = time.time()
    for i, outcome in enumerate([Outcome.PASS, Outcome.FAIL, Outcome.PASS]):
        fake_run(tmp_path, "abort", outcome, now + i * 3600)
    fake_run(tmp_path, "timeout", Outcome.INCONCLUSIVE, now)
    rows = history([tmp_path])
    assert [r.name for r in rows].count("abort") == 3
    assert trends(rows) == {"abort": "PFP", "timeout": "?"}
    result = CliRunner().invoke(app, ["history", str(tmp_path)])
    assert result.exit_code == 0 and "abort" in result.output and "PFP" in result.output


def test_regenerate_round_trips_the_journal(tmp_path: Path) -> None:
    folder = fake_run(tmp_path, "abort", Outcome.FAIL, time.time())
    (folder / "report.html").unlink()
    regenerate(folder)
    assert '<img alt="timeline"' in (folder / "report.html").read_text()
    again = load_result(folder)
    assert again.verdicts[0].outcome is Outcome.FAIL and again.verdicts[0].interval == (0.005, 0.02)


def test_junit_is_well_formed_with_numbers_in_failure_messages(tmp_path: Path) -> None:
    folder = fake_run(tmp_path, "abort", Outcome.FAIL, time.time())
    suite = ET.parse(folder / "junit.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "1" and suite.get("tests") == "1"
    failure = suite.find("testcase/failure")
    assert failure is not None and "0.01 [0.005, 0.02], expected below 0.05; n=900" in failure.get("message", "")
