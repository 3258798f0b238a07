"""Statistics behind verdicts: Wilson intervals for rates, distribution-free intervals for quantiles."""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy.stats import binom, norm


def z_value(confidence: float) -> float:
    return float(norm.ppf(0.5 + confidence / 2))


def wilson_interval(successes: float, trials: float, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for a proportion; (0, 1) when there are no trials."""
    if trials <= 0:
        return (0.0, 1.0)
    z = z_value(confidence)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # with no successes (or no failures) the bound is exactly 0 (or 1); centre - half leaves a rounding residue
    # like 4e-19, which would make a predicted 0 fall outside the interval (a false surprise)
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= trials else min(1.0, centre + half)
    return (low, high)


def trials_needed(rate: float, bound: float, confidence: float = 0.95, *, limit: int = 10_000_000) -> int | None:
    """The fewest requests at the observed ``rate`` whose Wilson interval no longer contains ``bound``."""
    def decides(n: int) -> bool:
        low, high = wilson_interval(rate * n, n, confidence)
        return bound < low or bound > high

    if rate == bound or not decides(limit):
        return None
    high = 1
    while not decides(high):
        high *= 2
    low = high // 2
    while low + 1 < high:  # decides() is monotonic in n: binary search the threshold
        middle = (low + high) // 2
        low, high = (low, middle) if decides(middle) else (middle, high)
    return high


def quantile_interval(sorted_values: Sequence[float], q: float, confidence: float = 0.95
                      ) -> tuple[float, float, float] | None:
    """Point estimate and distribution-free interval of the q-quantile (order statistics, binomial ranks).

    ``sorted_values`` must be sorted and hold no NaN (NaN does not order, so its ranks would mean nothing).
    """
    n = len(sorted_values)
    if n == 0:
        return None
    alpha = 1 - confidence
    lower_rank = int(binom.ppf(alpha / 2, n, q))          # 0-based index of the lower order statistic
    upper_rank = int(binom.ppf(1 - alpha / 2, n, q))
    point = sorted_values[min(n - 1, max(0, math.ceil(q * n) - 1))]
    lower = sorted_values[max(0, min(n - 1, lower_rank - 1))] if lower_rank > 0 else -math.inf
    upper = sorted_values[upper_rank] if upper_rank < n else math.inf
    return (point, lower, upper)


def bucket_quantile_interval(buckets: Sequence[tuple[float, float]], q: float) -> tuple[float, float, float] | None:
    """For cumulative histogram buckets: the bucket holding the q-quantile bounds it (lower, upper)."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    previous_bound, previous_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            # linear interpolation inside the bucket, as histogram_quantile does
            inside = (rank - previous_count) / (count - previous_count) if count > previous_count else 1.0
            point = previous_bound + (bound - previous_bound) * inside if math.isfinite(bound) else previous_bound
            return (point, previous_bound, bound)
        previous_bound, previous_count = bound, count
    return None
