"""HL5xx: mesh hypotheses whose windows hold too few scrapes."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from harness.cli import app
from harness.lint import Severity
from tests.lint.conftest import Lint, codes, example, lint_example


def test_hl501_a_within_window_shorter_than_four_stated_scrape_intervals(lint: Lint) -> None:
    doc = example("06-outlier-detection-ejects.yaml", target={"namespace": "shop", "scrapeInterval": "15s"})
    doc["policies"] = []
    result = lint(doc)
    (finding,) = [f for f in result.findings if f.code == "HL501"]
    assert finding.severity is Severity.ERROR and finding.field == "hypotheses[0].within"
    assert "10s gives 0 scrapes at 15 s" in finding.message


def test_hl501_not_at_a_fast_enough_interval(lint: Lint) -> None:
    doc = example("06-outlier-detection-ejects.yaml", target={"namespace": "shop", "scrapeInterval": "1s"})
    doc["policies"] = []
    assert not {"HL501", "HL502"} & set(codes(lint(doc)))


def test_hl502_an_info_note_at_prometheus_default_interval() -> None:
    (finding,) = lint_example("06-outlier-detection-ejects.yaml").findings
    assert (finding.code, finding.severity, finding.field) == ("HL502", Severity.INFO, "hypotheses[0].within")


def test_client_hypotheses_have_no_window_limit() -> None:
    assert codes(lint_example("01-run-scoped-abort.yaml")) == []


def test_validate_refuses_the_file_where_lint_reports_a_finding(tmp_path: Path) -> None:
    doc = example("06-outlier-detection-ejects.yaml", target={"namespace": "shop", "scrapeInterval": "15s"})
    doc["policies"] = []
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    validated = CliRunner().invoke(app, ["validate", str(path)])
    assert validated.exit_code == 2 and "phase too short" in validated.output
    linted = CliRunner().invoke(app, ["lint", str(path), "--state-dir", str(tmp_path / "none")])
    assert linted.exit_code == 1 and "HL501 error" in linted.output
