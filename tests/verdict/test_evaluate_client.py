"""Client verdicts: quantiles compared as quantiles, shifts by rank, and no PASS without requests."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from harness.experiment import Hypothesis
from harness.metrics import Window
from harness.verdict import Outcome, Timeline, Verdict, evaluate

BASELINE, FAULT = Window(0, 60), Window(70, 130)
TIMELINE = Timeline({"baseline": BASELINE, "recovery": Window(140, 200)}, FAULT)


def latencies_ms(rng: np.random.Generator, n: int, *, tail_share: float = 0.0, tail_ms: float = 1000.0) -> np.ndarray:
    """Around 30 ms (p99 about 40 ms); ``tail_share`` of the requests take ``tail_ms`` instead."""
    values = rng.normal(30.0, 4.0, n)
    slow = rng.random(n) < tail_share
    return np.where(slow, tail_ms, values)


def requests(window: Window, latency: np.ndarray, *, cohort: str = "tagged", outcome: Any = "ok") -> pd.DataFrame:
    t = np.linspace(window.start, window.end, len(latency), endpoint=False)
    return pd.DataFrame({"t": t, "cohort": cohort, "name": "home", "status": 200, "latency_ms": latency,
                         "outcome": outcome})


def judge(spec: dict[str, Any], samples: pd.DataFrame, timeline: Timeline = TIMELINE) -> Verdict:
    h = Hypothesis.model_validate({"name": "x", **spec})
    return evaluate(h, samples=samples, timeline=timeline, prometheus=None, namespace="shop")


@pytest.fixture
def slow_tail() -> pd.DataFrame:
    """The p99 goes from 40 ms to 1000 ms in the fault (5% of requests), the median stays put."""
    rng = np.random.default_rng(5)
    return pd.concat([requests(BASELINE, latencies_ms(rng, 3000)),
                      requests(FAULT, latencies_ms(rng, 3000, tail_share=0.05))])


def test_p99_versus_baseline_catches_a_slow_tail(slow_tail: pd.DataFrame) -> None:
    verdict = judge({"measure": "latency_p99", "cohort": "tagged", "versus": "baseline", "below": 100}, slow_tail)
    assert verdict.outcome is Outcome.FAIL
    assert verdict.value == pytest.approx(1000 - 40, abs=10)
    assert verdict.interval is not None and verdict.interval[0] > 100
    assert "interval of the p99 difference" in verdict.reason and "Bonferroni" in verdict.reason


def test_latency_shift_still_sees_no_shift_of_the_distribution(slow_tail: pd.DataFrame) -> None:
    verdict = judge({"measure": "latency_shift", "cohort": "tagged", "versus": "baseline", "below": 100}, slow_tail)
    assert verdict.outcome is Outcome.PASS
    assert "Mann-Whitney" in verdict.reason and abs(verdict.value or 0) < 2


def test_a_real_p99_improvement_passes() -> None:
    rng = np.random.default_rng(6)
    samples = pd.concat([requests(BASELINE, latencies_ms(rng, 3000, tail_share=0.05)),
                         requests(FAULT, latencies_ms(rng, 3000))])
    difference = judge({"measure": "latency_p99", "cohort": "tagged", "versus": "baseline", "below": -500}, samples)
    assert difference.outcome is Outcome.PASS
    ratio = judge({"measure": "latency_p99", "cohort": "tagged", "versus": "baseline", "relation": "ratio",
                   "below": 0.5}, samples)
    assert ratio.outcome is Outcome.PASS and ratio.value == pytest.approx(40 / 1000, abs=0.01)


def test_an_unchanged_quantile_straddles_a_zero_bound() -> None:
    rng = np.random.default_rng(7)
    samples = pd.concat([requests(BASELINE, latencies_ms(rng, 2000)), requests(FAULT, latencies_ms(rng, 2000))])
    verdict = judge({"measure": "latency_p95", "cohort": "tagged", "versus": "baseline", "below": 0}, samples)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.interval is not None and verdict.interval[0] < 0 < verdict.interval[1]


def test_too_few_requests_to_bound_a_p99_is_inconclusive_and_says_so() -> None:
    rng = np.random.default_rng(8)
    samples = pd.concat([requests(BASELINE, latencies_ms(rng, 50)), requests(FAULT, latencies_ms(rng, 50))])
    verdict = judge({"measure": "latency_p99", "cohort": "tagged", "versus": "baseline", "below": 100}, samples)
    assert verdict.outcome is Outcome.INCONCLUSIVE and "too few requests" in verdict.reason
    assert verdict.interval is not None and math.isinf(verdict.interval[1])


def test_p95_tagged_versus_control() -> None:
    rng = np.random.default_rng(9)
    samples = pd.concat([requests(FAULT, latencies_ms(rng, 2000, tail_share=0.2), cohort="tagged"),
                         requests(FAULT, latencies_ms(rng, 2000), cohort="control")])
    verdict = judge({"measure": "latency_p95", "cohort": "tagged", "versus": "control", "above": 500}, samples)
    assert verdict.outcome is Outcome.PASS
    assert verdict.details["reference_samples"] == 2000


def test_request_rate_without_requests_from_the_cohort_is_inconclusive_naming_the_others() -> None:
    samples = requests(FAULT, np.full(812, 20.0), cohort="control")
    verdict = judge({"measure": "request_rate", "cohort": "tagged", "below": 5}, samples)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.reason == "no requests from cohort tagged in the fault window (other cohorts: control 812)"


@pytest.mark.parametrize(("samples", "found"), [
    (pd.DataFrame(columns=["t", "cohort", "name", "status", "latency_ms", "outcome"]), "no client samples at all"),
    (pd.DataFrame(), "no client samples at all"),
    (requests(Window(300, 400), np.full(40, 20.0)), "none of the 40 client samples is in it"),
])
def test_no_requests_in_the_window_is_inconclusive_for_every_direction(samples: pd.DataFrame, found: str) -> None:
    for bounds in ({"below": 5}, {"above": 5}, {"above": 1, "below": 5}):
        verdict = judge({"measure": "request_rate", **bounds}, samples)
        assert verdict.outcome is Outcome.INCONCLUSIVE
        assert verdict.reason == f"no requests in the fault window ({found})"


def test_nan_latencies_give_no_quantile() -> None:
    samples = requests(FAULT, np.full(500, np.nan))
    verdict = judge({"measure": "latency_p50", "below": 100}, samples)
    assert verdict.outcome is Outcome.INCONCLUSIVE and verdict.value is None
    assert verdict.reason == "no requests with a recorded latency in the fault window (its 500 rows have none)"
    assert judge({"measure": "error_rate", "below": 0.01}, samples).outcome is Outcome.PASS  # outcomes were recorded


def test_rows_without_a_value_are_ignored_and_counted() -> None:
    latency = np.where(np.arange(1000) % 10 == 0, np.nan, 20.0)
    verdict = judge({"measure": "latency_p95", "below": 100}, requests(FAULT, latency))
    assert verdict.outcome is Outcome.PASS and verdict.samples == 900
    assert verdict.details["ignored_rows"] == 100
    outcome = [None if i % 4 == 0 else "5xx" for i in range(1000)]
    verdict = judge({"measure": "error_rate", "above": 0.5}, requests(FAULT, np.full(1000, 20.0), outcome=outcome))
    assert verdict.samples == 750 and verdict.value == 1.0 and verdict.details["ignored_rows"] == 250


def test_an_empty_reference_group_is_named() -> None:
    rng = np.random.default_rng(10)
    samples = requests(FAULT, latencies_ms(rng, 300), cohort="tagged")
    verdict = judge({"measure": "latency_p99", "cohort": "tagged", "versus": "control", "below": 100}, samples)
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.reason == "no requests from cohort control in the fault window (other cohorts: tagged 300)"
    verdict = judge({"measure": "error_rate", "cohort": "tagged", "versus": "baseline", "below": 0.1}, samples)
    assert verdict.reason == ("no requests from cohort tagged in the baseline window (none of the 300 client "
                              "samples is in it)")


def test_a_fault_removed_by_someone_else_keeps_its_note_in_comparisons() -> None:
    rng = np.random.default_rng(12)
    samples = pd.concat([requests(FAULT, latencies_ms(rng, 400), cohort="tagged", outcome="5xx"),
                         requests(FAULT, latencies_ms(rng, 400), cohort="control")])
    timeline = Timeline({"baseline": BASELINE}, FAULT, fault_lost_at=120)
    verdict = judge({"measure": "error_rate", "cohort": "tagged", "versus": "control", "above": 0.5}, samples,
                    timeline)
    assert verdict.outcome is Outcome.PASS
    assert verdict.details["hits"] > 0 and "removed by someone else" in verdict.details["note"]


def test_the_fault_window_ends_when_the_revert_begins_not_when_the_last_fault_is_out() -> None:
    # two faults: the first taken out at 125 (healthy answers from then on), the last confirmed out at 130; every
    # request while all faults were in place failed: "all fail" must hold, not be diluted by the healthy tail
    rng = np.random.default_rng(3)
    samples = pd.concat([requests(Window(70, 125), latencies_ms(rng, 550), outcome="5xx"),
                         requests(Window(125, 130), latencies_ms(rng, 50))])
    spec = {"measure": "error_rate", "cohort": "tagged", "above": 0.99}
    assert judge(spec, samples).outcome is not Outcome.PASS  # the whole active window holds 50 healthy answers
    reverting = Timeline({"baseline": BASELINE}, FAULT, revert_started=125)
    verdict = judge(spec, samples, reverting)
    assert verdict.outcome is Outcome.PASS and verdict.window == (70, 125)
