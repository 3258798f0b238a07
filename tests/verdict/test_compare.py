"""Comparisons: Newcombe and Katz intervals with known answers, quantile differences that cover the truth, the
rank test's three outcomes."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest
from scipy.stats import lognorm
from scipy.stats.contingency import relative_risk

from harness.experiment import Hypothesis
from harness.metrics import Window
from harness.verdict import Outcome, Timeline, evaluate, quantile_interval
from harness.verdict._compare import (
    quantile_comparison_interval,
    rate_difference_interval,
    rate_ratio_interval,
    shift_test,
)


def test_newcombe_difference_known_values() -> None:
    # Newcombe (1998), example: 56/70 vs 48/80 -> difference 0.2, interval (0.0524, 0.3339)
    low, high = rate_difference_interval(56, 70, 48, 80)
    assert (low, high) == pytest.approx((0.0524, 0.3339), abs=5e-4)


def test_katz_ratio_contains_the_true_ratio() -> None:
    ratio, low, high = rate_ratio_interval(200, 1000, 100, 1000)
    assert ratio == pytest.approx(2.0) and low < 2.0 < high and low > 1.5


@pytest.mark.parametrize(("k1", "n1", "k2", "n2", "confidence"), [
    (200, 1000, 100, 1000, 0.95), (3, 40, 17, 60, 0.9), (1, 5000, 9, 5000, 0.99), (50, 50, 25, 50, 0.95)])
def test_katz_interval_equals_scipys_relative_risk(k1: int, n1: int, k2: int, n2: int, confidence: float) -> None:
    # scipy's relative_risk uses the same Katz log interval; ours adds 0.5 to empty cells where scipy has none
    expected = relative_risk(k1, n1, k2, n2)
    ci = expected.confidence_interval(confidence)
    assert rate_ratio_interval(k1, n1, k2, n2, confidence) == pytest.approx(
        (expected.relative_risk, ci.low, ci.high), rel=1e-12)


def test_quantile_difference_combines_the_groups_intervals_at_bonferroni_confidence() -> None:
    values = [float(v) for v in range(1000, 2000)]
    reference = [float(v) for v in range(0, 1000)]
    value, low, high = quantile_comparison_interval(values, reference, 0.5, confidence=0.9)
    assert value == pytest.approx(1000)
    _, low1, high1 = quantile_interval(values, 0.5, 0.95)    # 1 - 0.10 / 2 each
    _, low2, high2 = quantile_interval(reference, 0.5, 0.95)
    assert (low, high) == (low1 - high2, high1 - low2)


def test_quantile_ratio_and_its_guards() -> None:
    ratio, low, high = quantile_comparison_interval([20.0] * 500, [10.0] * 500, 0.95, relation="ratio")
    assert (ratio, low, high) == (2.0, 2.0, 2.0)
    _, low, high = quantile_comparison_interval([20.0] * 10, [10.0] * 10, 0.99, relation="ratio")
    assert low == 0.0 and high == math.inf   # ten samples bound a p99 on neither side
    ratio, low, high = quantile_comparison_interval([5.0] * 500, [0.0] * 500, 0.5, relation="ratio")
    assert ratio == math.inf and (low, high) == (math.inf, math.inf)
    ratio, low, high = quantile_comparison_interval([0.0] * 500, [0.0] * 500, 0.5, relation="ratio")
    assert math.isnan(ratio) and (low, high) == (0.0, math.inf)
    assert quantile_comparison_interval([], [1.0], 0.5) is None


@pytest.mark.parametrize("relation", ["difference", "ratio"])
def test_quantile_comparison_covers_the_true_difference(relation: str) -> None:
    """Seeded simulation: the interval holds the true p95 difference (or ratio) in at least ~95% of runs."""
    rng = np.random.default_rng(11)
    slow, fast = lognorm(s=0.6, scale=80.0), lognorm(s=0.4, scale=40.0)
    truth = slow.ppf(0.95) / fast.ppf(0.95) if relation == "ratio" else slow.ppf(0.95) - fast.ppf(0.95)
    runs, covered = 400, 0
    for _ in range(runs):
        values = np.sort(slow.rvs(size=300, random_state=rng)).tolist()
        reference = np.sort(fast.rvs(size=300, random_state=rng)).tolist()
        found = quantile_comparison_interval(values, reference, 0.95, relation=relation)
        assert found is not None and math.isfinite(found[1]) and math.isfinite(found[2])
        covered += found[1] <= truth <= found[2]
    assert covered / runs >= 0.95


def test_rank_test_pass_fail_and_inconclusive() -> None:
    rng = random.Random(1)
    baseline = [rng.gauss(100, 10) for _ in range(500)]
    shifted = [rng.gauss(150, 10) for _ in range(500)]  # +50 ms
    assert shift_test(shifted, baseline, below=100, above=None)[0] is Outcome.PASS
    assert shift_test(shifted, baseline, below=20, above=None)[0] is Outcome.FAIL
    assert shift_test(shifted[:5], baseline[:5], below=50, above=None)[0] is Outcome.INCONCLUSIVE
    outcome, estimate, reason = shift_test(shifted, baseline, below=None, above=30)
    assert outcome is Outcome.PASS and 45 < estimate < 55 and "Mann-Whitney" in reason


def test_tagged_versus_control_on_client_samples() -> None:
    rows = [{"t": 10 + i * 0.01, "cohort": "tagged" if i % 2 else "control", "name": "x", "status": 200,
             "latency_ms": 5.0, "outcome": ("5xx" if i % 2 and i % 10 < 4 else "ok")} for i in range(2000)]
    samples = pd.DataFrame(rows)
    timeline = Timeline({"baseline": Window(0, 9)}, Window(10, 31))
    hypothesis = Hypothesis.model_validate({"name": "tagged worse than control", "measure": "error_rate",
                                            "cohort": "tagged", "versus": "control", "above": 0.2})
    verdict = evaluate(hypothesis, samples=samples, timeline=timeline, prometheus=None, namespace="shop")
    assert verdict.outcome is Outcome.PASS
    assert verdict.value == pytest.approx(0.4, abs=0.01)
    assert verdict.interval is not None and verdict.interval[0] > 0.2


def test_versus_validation_errors() -> None:
    with pytest.raises(ValueError, match="versus: control compares a client cohort"):
        Hypothesis.model_validate({"name": "x", "measure": "error_rate", "cohort": "control", "versus": "control",
                                   "below": 0.1})
    with pytest.raises(ValueError, match="latency comparisons need the client's samples"):
        Hypothesis.model_validate({"name": "x", "measure": "latency_p95", "source": "mesh", "service": "cart",
                                   "versus": "baseline", "below": 10})
