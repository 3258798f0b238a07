"""Statistics with known answers, borderline cases included."""

from __future__ import annotations

import math

import pytest
from scipy.stats import binomtest

from harness.verdict import (
    Outcome,
    bucket_quantile_interval,
    judge_interval,
    quantile_interval,
    trials_needed,
    wilson_interval,
)


@pytest.mark.parametrize(("k", "n", "low", "high"), [
    (10, 100, 0.05522, 0.17437),      # textbook values (Wilson 1927; Newcombe 1998 table)
    (0, 50, 0.0, 0.07135),
    (50, 50, 0.92865, 1.0),
    (1, 1, 0.20654, 1.0),
])
def test_wilson_interval_known_values(k: int, n: int, low: float, high: float) -> None:
    got = wilson_interval(k, n, 0.95)
    assert got == pytest.approx((low, high), abs=1e-4)


@pytest.mark.parametrize(("k", "n", "confidence"), [(10, 100, 0.95), (0, 50, 0.95), (50, 50, 0.99), (1, 1, 0.9),
                                                     (337, 1200, 0.8)])
def test_wilson_interval_equals_scipys(k: int, n: int, confidence: float) -> None:
    # kept by hand because trials_needed asks for fractional successes, which scipy's binomtest refuses
    expected = binomtest(k, n).proportion_ci(confidence, method="wilson")
    assert wilson_interval(k, n, confidence) == pytest.approx((expected.low, expected.high), abs=1e-12)


@pytest.mark.parametrize("n", [3, 900, 12_345])
def test_no_events_gives_exactly_zero_and_all_events_exactly_one(n: int) -> None:
    # a predicted 0 (or 1) must lie inside: a rounding residue of 4e-19 made it a false "surprise"
    assert wilson_interval(0, n)[0] == 0.0 and wilson_interval(n, n)[1] == 1.0


def test_no_trials_is_the_whole_range() -> None:
    assert wilson_interval(0, 0) == (0.0, 1.0)


@pytest.mark.parametrize(("low", "high", "below", "above", "expected"), [
    (0.01, 0.02, 0.05, None, Outcome.PASS),
    (0.06, 0.08, 0.05, None, Outcome.FAIL),
    (0.04, 0.06, 0.05, None, Outcome.INCONCLUSIVE),
    (0.05, 0.06, 0.05, None, Outcome.FAIL),        # the interval starts on the bound: wholly violates
    (0.01, 0.05, 0.05, None, Outcome.INCONCLUSIVE),  # touches the bound: not wholly inside
    (0.6, 0.7, None, 0.5, Outcome.PASS),
    (0.3, 0.4, None, 0.5, Outcome.FAIL),
    (0.2, 0.3, 0.5, 0.1, Outcome.PASS),
    (0.05, 0.3, 0.5, 0.1, Outcome.INCONCLUSIVE),
])
def test_judge_interval(low: float, high: float, below: float | None, above: float | None, expected: Outcome) -> None:
    assert judge_interval(low, high, below=below, above=above) is expected


def test_trials_needed_is_the_first_n_that_decides() -> None:
    n = trials_needed(0.0, 0.02)
    assert n is not None
    assert wilson_interval(0, n)[1] < 0.02 <= wilson_interval(0, n - 1)[1]
    assert trials_needed(0.1, 0.1) is None


def test_quantile_interval_contains_the_true_quantile_and_is_infinite_without_enough_samples() -> None:
    values = [float(v) for v in range(1, 1001)]
    point, low, high = quantile_interval(values, 0.5)
    assert point == 500 and low < 500 < high and high - low < 80
    _, _, upper = quantile_interval(values[:20], 0.99)
    assert math.isinf(upper)  # 20 samples cannot bound a p99 from above


def test_bucket_quantile_interval_is_the_bucket_holding_the_quantile() -> None:
    buckets = [(10.0, 50.0), (25.0, 90.0), (50.0, 100.0), (math.inf, 100.0)]
    point, low, high = bucket_quantile_interval(buckets, 0.8)
    assert (low, high) == (10.0, 25.0)
    assert point == pytest.approx(10 + 15 * (80 - 50) / 40)
    assert bucket_quantile_interval([(10.0, 0.0), (math.inf, 0.0)], 0.5) is None
