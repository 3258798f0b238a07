"""Lint against a running sandbox: its API (harness credentials), its topology and its scrape interval."""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.cli import app
from tests.conftest import needs_prometheus
from tests.lint.test_examples import EXAMPLES, EXPECTED_ERRORS

pytestmark = [needs_prometheus, pytest.mark.sandbox]


def test_the_examples_against_the_running_sandbox(demo: Any) -> None:
    result = CliRunner().invoke(app, ["lint", str(EXAMPLES), "--json", "--state-dir", str(demo.state_dir)])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    errors = {e["name"]: sorted(f["code"] for f in e["findings"] if f["severity"] == "error")
              for e in report["experiments"]}
    assert {name: codes for name, codes in errors.items() if codes} == EXPECTED_ERRORS
    for item in report["experiments"]:
        assert item["mesh"].startswith("the running sandbox")
        # the sandbox scrapes every second: every mesh window of the suite holds enough scrapes
        assert not [f for f in item["findings"] if f["code"] in ("HL501", "HL502")]
        # deploy/rbac.yaml lets the harness read its namespace's labels (ambient or not), pods, endpoints and
        # routes: nothing lint needs is unread; only other namespaces' Istio objects are out of its reach (said)
        assert item["notes"] == ["Istio objects outside namespace shop were not read (the credentials list shop only)"]
