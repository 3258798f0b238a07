"""Comparisons: Newcombe and Katz intervals with known answers, the rank test's three outcomes."""

from __future__ import annotations

import random

import pandas as pd
import pytest

from harness.experiment import Hypothesis
from harness.metrics import Window
from harness.verdict import Outcome, Timeline, evaluate
from harness.verdict._compare import rate_difference_interval, rate_ratio_interval, shift_test


def test_newcombe_difference_known_values() -> None:
    # Newcombe (1998), example: 56/70 vs 48/80 -> difference 0.2, interval (0.0524, 0.3339)
    low, high = rate_difference_interval(56, 70, 48, 80)
    assert (low, high) == pytest.approx((0.0524, 0.3339), abs=5e-4)


def test_katz_ratio_contains_the_true_ratio() -> None:
    ratio, low, high = rate_ratio_interval(200, 1000, 100, 1000)
    assert ratio == pytest.approx(2.0) and low < 2.0 < high and low > 1.5


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
    with pytest.raises(ValueError, match="rank test on client samples"):
        Hypothesis.model_validate({"name": "x", "measure": "latency_p95", "source": "mesh", "service": "cart",
                                   "versus": "baseline", "below": 10})
