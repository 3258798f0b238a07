"""Alert guardrails in experiment YAML: the syntax, located errors, and where Alertmanager comes from."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.alerts import open_alertmanager
from harness.errors import ExperimentError, HarnessError
from harness.experiment import AlertGuardrail, Hypothesis, Matcher, load_experiment_text, load_experiments

HEAD = """apiVersion: harness/v1
kind: Experiment
metadata: {name: burn}
faults: [{host: frontend, abort: {httpStatus: 503}}]
"""


def load(guardrails: str, target: str = "") -> object:
    return load_experiment_text(HEAD + target + "guardrails:\n" + guardrails, Path("exp.yaml"))[0].experiment


def errors_of(guardrails: str) -> str:
    with pytest.raises(ExperimentError) as caught:
        load(guardrails)
    return str(caught.value)


def test_alert_and_hypothesis_guardrails_mix_in_one_list() -> None:
    exp = load("  - {name: frontend burning, alert: {alertname: FrontendErrorBudgetBurn, severity: critical}}\n"
               "  - {name: tagged mostly fine, measure: error_rate, cohort: tagged, below: 0.5}\n",
               target="target: {alertmanagerUrl: 'http://am:9093'}\n")
    alert, hypothesis = exp.guardrails  # type: ignore[attr-defined]
    assert isinstance(alert, AlertGuardrail) and isinstance(hypothesis, Hypothesis)
    assert alert.matchers == (Matcher("alertname", "=", "FrontendErrorBudgetBurn"), Matcher("severity", "=", "critical"))
    assert exp.target.alertmanager_url == "http://am:9093"  # type: ignore[attr-defined]


@pytest.mark.parametrize(("written", "matcher", "selector"), [
    ("critical", Matcher("severity", "=", "critical"), 'severity="critical"'),
    ("=~crit.*|page", Matcher("severity", "=~", "crit.*|page"), 'severity=~"crit.*|page"'),
    ("!=info", Matcher("severity", "!=", "info"), 'severity!="info"'),
    ("!~info|debug", Matcher("severity", "!~", "info|debug"), 'severity!~"info|debug"'),
])
def test_matcher_operators(written: str, matcher: Matcher, selector: str) -> None:
    assert Matcher.parse("severity", written) == matcher
    assert matcher.filter() == selector


@pytest.mark.parametrize(("entry", "line", "field", "message"), [
    ("{name: a, alert: {alertname: '=~(('}}", 6, "guardrails[0].alert", "not a regular expression"),
    ("{name: a, alert: {}}", 6, "guardrails[0].alert", "at least one label matcher"),
    ("{name: a, alert: {severity: '!=info'}}", 6, "guardrails[0].alert", "name the alert with a positive matcher"),
    ("{name: a, alert: {0bad: X}}", 6, "guardrails[0].alert", "not a Prometheus label name"),
    ("{name: a, alert: {alertname: X}, below: 1}", 6, "guardrails[0].below", "unknown field"),
    ("{alert: {alertname: X}}", 6, "guardrails[0].name", "Field required"),
    ("{name: a, measure: error_rte, below: 1}", 6, "guardrails[0].measure", "Input should be"),
])
def test_bad_alert_guardrails_name_file_line_and_field(entry: str, line: int, field: str, message: str) -> None:
    text = errors_of(f"  - {entry}\n")
    assert f"exp.yaml:{line}:" in text and f"{field}: " in text and message in text, text


def test_an_alert_guardrail_without_an_alertmanager_is_refused_with_a_hint() -> None:
    exp = load("  - {name: frontend burning, alert: {alertname: FrontendErrorBudgetBurn}}\n")
    with pytest.raises(HarnessError, match="'frontend burning' need an Alertmanager") as caught:
        open_alertmanager(exp)  # type: ignore[arg-type]
    assert "harness sandbox up --alertmanager" in str(caught.value.hint)


def test_where_alertmanager_comes_from() -> None:
    exp = load("  - {name: a, alert: {alertname: X}}\n", target="target: {alertmanagerUrl: 'http://file:9093/'}\n")
    assert open_alertmanager(exp, default="http://sandbox:1").url == "http://file:9093"  # type: ignore[arg-type, union-attr]
    assert open_alertmanager(exp, given="http://cli:2", default="http://sandbox:1").url == "http://cli:2"  # type: ignore[arg-type, union-attr]
    no_alerts = load("  - {name: b, measure: error_rate, below: 0.5}\n")
    assert open_alertmanager(no_alerts, given="http://cli:2") is None  # type: ignore[arg-type]


def test_the_example_experiment_validates() -> None:
    root = Path(__file__).resolve().parents[2]
    (loaded,) = load_experiments([root / "experiments" / "alerts"])
    assert any(isinstance(g, AlertGuardrail) for g in loaded.experiment.guardrails)
