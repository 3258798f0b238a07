"""Comparisons between two groups: differences and ratios of rates and of latency quantiles, a rank test for shifts."""

from __future__ import annotations

import math
from collections.abc import Sequence

from harness.verdict._outcome import Outcome
from harness.verdict._stats import quantile_interval, wilson_interval, z_value


def rate_difference_interval(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> tuple[float, float]:
    """Newcombe's hybrid score interval for p1 - p2 (built from the two Wilson intervals)."""
    p1, p2 = k1 / n1, k2 / n2
    l1, u1 = wilson_interval(k1, n1, confidence)
    l2, u2 = wilson_interval(k2, n2, confidence)
    diff = p1 - p2
    return (diff - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), diff + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2))


def rate_ratio_interval(k1: int, n1: int, k2: int, n2: int, confidence: float = 0.95) -> tuple[float, float, float]:
    """Katz log interval for p1 / p2 (0.5 added to empty cells so zero counts stay finite)."""
    if k1 == 0 or k2 == 0:
        k1, k2, n1, n2 = k1 + 0.5, k2 + 0.5, n1 + 0.5, n2 + 0.5  # type: ignore[assignment]
    ratio = (k1 / n1) / (k2 / n2)
    spread = z_value(confidence) * math.sqrt(1 / k1 - 1 / n1 + 1 / k2 - 1 / n2)
    return ratio, ratio * math.exp(-spread), ratio * math.exp(spread)


def quantile_comparison_interval(values: Sequence[float], reference: Sequence[float], q: float, *,
                                 relation: str = "difference", confidence: float = 0.95
                                 ) -> tuple[float, float, float] | None:
    """Point estimate and interval of q-quantile(values) minus (or over) q-quantile(reference).

    Both inputs sorted, without NaN. Each group gets a distribution-free order-statistic interval at
    1 - alpha/2 (Bonferroni), so both hold together with probability >= ``confidence``, and then so
    does the interval from their ends: [low1 - high2, high1 - low2], or [low1 / high2, high1 / low2]
    for a ratio. A group too small to bound its quantile leaves that end infinite. None without data.
    """
    each = 1 - (1 - confidence) / 2
    found, found_reference = quantile_interval(values, q, each), quantile_interval(reference, q, each)
    if found is None or found_reference is None:
        return None
    (point, low, high), (point_ref, low_ref, high_ref) = found, found_reference
    if relation == "ratio":
        low, high = _ratio_bounds(low, high, low_ref, high_ref)
        return _ratio(point, point_ref), low, high
    return point - point_ref, low - high_ref, high - low_ref


def _ratio_bounds(low: float, high: float, low_ref: float, high_ref: float) -> tuple[float, float]:
    # latencies are never negative, so an open lower end (-inf: too few samples) is 0; dividing by a
    # reference end of 0 gives an unbounded ratio rather than an error or NaN
    low, low_ref = max(0.0, low), max(0.0, low_ref)
    lowest = low / high_ref if high_ref > 0 else (math.inf if low > 0 else 0.0)
    highest = high / low_ref if low_ref > 0 else math.inf
    return lowest, highest


def _ratio(value: float, reference: float) -> float:
    if reference > 0:
        return value / reference
    return math.inf if value > 0 else math.nan  # 0/0: no ratio to report


def shift_test(values: Sequence[float], reference: Sequence[float], *, below: float | None, above: float | None,
               relation: str = "difference", confidence: float = 0.95) -> tuple[Outcome, float, str]:
    """One-sided Mann-Whitney U tests of ``values`` against ``reference`` moved by each bound.

    This judges the whole distribution (measure latency_shift), not any one quantile: a slow tail on
    a few percent of requests barely moves it. ``below: b`` PASSes when values - b are significantly
    smaller than the reference (the shift is below b), FAILs when significantly larger, else
    INCONCLUSIVE; ``above`` mirrors it. With ``relation: ratio`` the bound divides instead of
    subtracting. Returns outcome, the median shift (or ratio of medians) and a reason with the p-values.
    """
    from scipy.stats import mannwhitneyu

    alpha = 1 - confidence
    ref_median = _median(reference)
    estimate = _ratio(_median(values), ref_median) if relation == "ratio" else _median(values) - ref_median
    outcomes, notes = [], []
    for bound, wanted in ((below, "less"), (above, "greater")):
        if bound is None:
            continue
        moved = [v / bound for v in values] if relation == "ratio" else [v - bound for v in values]
        p_wanted = mannwhitneyu(moved, reference, alternative=wanted, method="asymptotic").pvalue
        p_against = mannwhitneyu(moved, reference, alternative="greater" if wanted == "less" else "less",
                                 method="asymptotic").pvalue
        notes.append(f"{'below' if wanted == 'less' else 'above'} {bound:g}: p={p_wanted:.3g} (against: "
                     f"p={p_against:.3g})")
        outcomes.append(Outcome.PASS if p_wanted < alpha else Outcome.FAIL if p_against < alpha
                        else Outcome.INCONCLUSIVE)
    outcome = (Outcome.FAIL if Outcome.FAIL in outcomes else Outcome.INCONCLUSIVE if Outcome.INCONCLUSIVE in outcomes
               else Outcome.PASS)
    return outcome, estimate, f"one-sided Mann-Whitney U at {confidence:.0%}: " + "; ".join(notes)


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2
