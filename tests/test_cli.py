"""Every command has help text and is documented in the README; bad input never shows a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
COMMANDS = [["run"], ["inject"], ["revert"], ["report"], ["history"], ["validate"], ["lint"], ["predict"], ["schema"],
            ["cleanup"],
            ["sandbox", "up"], ["sandbox", "status"],
            ["sandbox", "down"], ["sandbox", "apply"], ["sandbox", "behave"], ["sandbox", "kubeconfig"],
            ["sandbox", "restart"]]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_every_command_has_help_and_is_in_the_readme(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert len(result.output) > 100
    assert f"harness {' '.join(command)}" in README


def test_listed_commands_are_all_the_commands() -> None:
    import typer.main

    group = typer.main.get_command(app)
    top = {name for name in group.commands if name != "sandbox"}  # type: ignore[attr-defined]
    sandbox = set(group.commands["sandbox"].commands)  # type: ignore[attr-defined]
    assert {c[0] for c in COMMANDS if len(c) == 1} == top
    assert {c[1] for c in COMMANDS if len(c) == 2} == sandbox


def test_invalid_experiment_is_a_located_error_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: harness/v1\nkind: Experiment\nmetadata: {name: x}\nfaults:\n"
                    "  - host: cart\n    abort: {httpStatus: 503, percentage: 150}\n")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert f"{path}:6:" in result.output and "faults[0].abort.percentage" in result.output
    assert "Traceback" not in result.output


def test_a_fault_without_delay_or_abort_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("apiVersion: harness/v1\nkind: Experiment\nmetadata: {name: x}\nfaults: [{host: cart}]\n")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "a fault needs a delay, an abort, or both" in result.output


def test_promql_versus_is_a_located_error_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "promql-versus.yaml"
    path.write_text("apiVersion: harness/v1\nkind: Experiment\nmetadata: {name: x}\n"
                    "faults: [{host: cart, abort: {httpStatus: 503}}]\nhypotheses:\n"
                    "  - name: my query, compared\n    measure: promql\n    source: mesh\n"
                    "    query: sum(rate(my_metric[$window]))\n    versus: baseline\n    below: 1\n")
    result = CliRunner().invoke(app, ["validate", str(path)])
    output = " ".join(result.output.split())  # the console wraps long lines
    assert result.exit_code == 2
    assert f"{path}:10:5: hypotheses[0].versus: measure promql is one value from your query" in output
    assert "Traceback" not in output


def test_examples_validate() -> None:
    root = Path(__file__).resolve().parents[1]
    result = CliRunner().invoke(app, ["validate", str(root / "experiments")])
    assert result.exit_code == 0, result.output
    assert result.output.count("ok ") >= 7  # the policies/ folder holds Istio YAML, not experiments


def test_validate_names_why_the_examples_designed_to_fail_will_fail() -> None:
    """validate runs lint: the designed FAILs are named with their reason; exit 1 for lint errors only with --strict."""
    examples = Path(__file__).resolve().parents[1] / "experiments" / "sandbox"
    result = CliRunner().invoke(app, ["validate", str(examples)])
    output = " ".join(result.output.split())
    assert result.exit_code == 0, result.output
    assert "03-same-route-timeout-FAILS.yaml:15:5: HL101 error" in output
    assert "05-retries-off-FAILS.yaml:21:5: HL103 error" in output
    assert "fix: " in output
    strict = CliRunner().invoke(app, ["validate", "--strict", str(examples / "03-same-route-timeout-FAILS.yaml")])
    assert strict.exit_code == 1
    quiet = CliRunner().invoke(app, ["validate", "--no-lint", str(examples)])
    assert quiet.exit_code == 0 and "HL101" not in quiet.output
