"""The sandbox's alerting input is checked before any process starts; Debian's binary name is found."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.errors import SandboxError
from harness.sandbox import Sandbox
from harness.sandbox._alertmanager import alertmanager_binary, check_rule_files, default_rule_files
from tests.alerts.conftest import needs_alertmanager


@needs_alertmanager
@pytest.mark.parametrize(("rules", "message"), [
    ("groups: [{name: g, rules: []}", "cannot read the alert rule file"),
    ("alert: X\n", "is not a Prometheus rule file"),
])
def test_a_bad_rule_file_stops_the_sandbox_before_anything_starts(tmp_path: Path, rules: str, message: str) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(rules)
    with pytest.raises(SandboxError, match=message):
        Sandbox.start(state_dir=tmp_path / "state", alertmanager=True, alert_rules=[path])
    assert not (tmp_path / "state" / "state.json").exists()


def test_the_shipped_rules_are_a_rule_file() -> None:
    (path,) = default_rule_files()
    assert check_rule_files([path]) == [path.absolute()]
    assert "FrontendErrorBudgetBurn" in path.read_text()


def test_debians_binary_name_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    debian = tmp_path / "prometheus-alertmanager"
    debian.write_text("#!/bin/sh\n")
    debian.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert alertmanager_binary() == str(debian)
    os.remove(debian)
    with pytest.raises(SandboxError, match="alertmanager not found on PATH") as caught:
        alertmanager_binary()
    assert "apt-get install -y --no-install-recommends prometheus-alertmanager" in str(caught.value.hint)
