"""`expect: predicted` verdicts, the summary's "predicted"/SURPRISE, and `harness predict` on the examples."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.experiment import Hypothesis
from harness.predict import Prediction, with_prediction
from harness.report import RunResult
from harness.report._junit import verdict_line
from harness.report._summary import summary_markdown
from harness.verdict import Outcome, Verdict

ROOT = Path(__file__).resolve().parents[2]
EXPECTED = Hypothesis.model_validate({"name": "h", "measure": "error_rate", "expect": "predicted"})
BOUNDED = Hypothesis.model_validate({"name": "h", "measure": "error_rate", "below": 0.5})


def observed(low: float, high: float, outcome: Outcome = Outcome.PASS) -> Verdict:
    return Verdict("h", outcome, "the whole interval meets the bound", "error_rate", "client", "fault", "all",
                   (low + high) / 2, (low, high), "below 0.5", 600)


def predicted(value: float | None, low: float | None = None, high: float | None = None) -> Prediction:
    return Prediction("h", "error_rate", "fault", "all", value, low, high, ("the load sends 60 req/s",),
                      reason="" if value is not None else "a raw query")


@pytest.mark.parametrize(("prediction", "interval", "outcome"), [
    (predicted(0.35), (0.33, 0.39), Outcome.PASS),
    (predicted(0.0033, 0.0033, 0.01), (0.0038, 0.016), Outcome.PASS),  # ranges overlap
    (predicted(0.0), (0.006, 0.07), Outcome.FAIL),                      # excluded: a surprise
    (predicted(None), (0.33, 0.39), Outcome.INCONCLUSIVE),              # no prediction
])
def test_expect_predicted_is_judged_on_the_prediction(prediction: Prediction, interval: tuple[float, float],
                                                      outcome: Outcome) -> None:
    verdict = with_prediction(observed(*interval), prediction, EXPECTED)
    assert verdict.outcome is outcome
    assert verdict.surprise is (outcome is Outcome.FAIL)
    if outcome is Outcome.FAIL:
        assert verdict.reason.startswith("SURPRISE")


def test_a_bounded_hypothesis_keeps_its_verdict_and_carries_the_prediction() -> None:
    verdict = with_prediction(observed(0.006, 0.07), predicted(0.0), BOUNDED)
    assert verdict.outcome is Outcome.PASS and verdict.surprise
    assert verdict.predicted == 0.0 and verdict.assumptions == ("the load sends 60 req/s",)
    assert verdict.to_dict()["surprise"] is True
    assert "predicted 0; SURPRISE" in verdict_line(verdict)
    result = RunResult("x", "r", "", {}, started_at=0.0)
    result.verdicts = [verdict]
    assert "predicted 0 **SURPRISE**" in summary_markdown(result)


def test_missing_evidence_stays_inconclusive() -> None:
    empty = Verdict("h", Outcome.INCONCLUSIVE, "no requests in the window", "error_rate")
    assert with_prediction(empty, predicted(0.2), EXPECTED).outcome is Outcome.INCONCLUSIVE


@pytest.mark.parametrize("interval", [(0.2, float("inf")), (float("-inf"), float("inf"))])
def test_an_unbounded_interval_is_no_evidence_for_a_prediction(interval: tuple[float, float]) -> None:
    # too few requests to bound a quantile (or a histogram's +Inf bucket) contains every prediction: not a PASS
    unbounded = observed(*interval, outcome=Outcome.INCONCLUSIVE)
    verdict = with_prediction(unbounded, predicted(0.35), EXPECTED)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "unbounded" in verdict.reason


def test_predict_command_warns_before_the_designed_failures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("HARNESS_SANDBOX_DIR", str(ROOT / "no-such-sandbox"))  # the demo mesh, never a live one
    result = CliRunner().invoke(app, ["predict", "experiments/sandbox"])
    assert result.exit_code == 0, result.output
    blocks = result.output.split("\n\n")
    failing = [b.split()[0] for b in blocks if "  predicted to FAIL" in b]
    assert failing == ["same-route-timeout-fails", "retries-off-fails"]
    assert "predicted 3000 (3000..3100); bound: below 2200" in result.output
    assert result.output.rstrip().endswith("14 hypotheses predicted; 2 predicted to FAIL their bound")
    data = json.loads(CliRunner().invoke(app, ["predict", "--json", "experiments/sandbox/01-run-scoped-abort.yaml"])
                      .output)
    (exp,) = data["experiments"]
    assert exp["predictions"][0]["value"] == pytest.approx(8 / 9)
    assert exp["predictions"][0]["meets_bound"] is True


def test_expect_predicted_on_a_measure_without_prediction_is_a_located_error(tmp_path: Path) -> None:
    path = tmp_path / "e.yaml"
    path.write_text("apiVersion: harness/v1\nkind: Experiment\nmetadata: {name: x}\nfaults:\n"
                    "  - {host: cart, abort: {httpStatus: 503}}\nhypotheses:\n  - name: q\n    measure: promql\n"
                    "    source: mesh\n    query: up\n    expect: predicted\n")
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "e.yaml:11:5: hypotheses[0].expect" in result.output and "Traceback" not in result.output
