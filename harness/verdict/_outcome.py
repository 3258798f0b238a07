"""Verdicts: PASS, FAIL or INCONCLUSIVE, each with value, interval, query, window and reason."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Outcome(StrEnum):
    PASS = "PASS"
    FAIL = "FAIL"
    INCONCLUSIVE = "INCONCLUSIVE"


@dataclass(frozen=True)
class Verdict:
    name: str
    outcome: Outcome
    reason: str
    measure: str = ""
    source: str = ""
    phase: str = ""
    cohort: str = ""
    value: float | None = None
    interval: tuple[float, float] | None = None
    bound: str = ""
    samples: int = 0
    query: str = ""
    window: tuple[float, float] | None = None
    details: dict[str, Any] = field(default_factory=dict)
    # what the Istio/Envoy semantics predicted for this measure (harness predict), and on which assumptions
    predicted: float | None = None
    assumptions: tuple[str, ...] = ()
    predicted_range: tuple[float, float] | None = None  # where the semantics give a range (latency overhead...)

    @property
    def surprise(self) -> bool:
        """The observed interval excludes the prediction (its whole range): the finding a game day exists for."""
        if self.predicted is None or self.interval is None:
            return False
        low, high = self.interval
        p_low, p_high = self.predicted_range or (self.predicted, self.predicted)
        return high < p_low or low > p_high

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["outcome"] = self.outcome.value
        data["surprise"] = self.surprise
        return _finite(data)


def judge_interval(low: float, high: float, *, below: float | None, above: float | None) -> Outcome:
    """PASS when the whole interval meets the bound, FAIL when it wholly violates it."""
    meets_low = above is None or low > above
    meets_high = below is None or high < below
    if meets_low and meets_high:
        return Outcome.PASS
    violates = (below is not None and low >= below) or (above is not None and high <= above)
    return Outcome.FAIL if violates else Outcome.INCONCLUSIVE


def describe_bound(below: float | None, above: float | None) -> str:
    if below is None and above is None:
        return "as predicted"  # expect: predicted without bounds
    if below is not None and above is not None:
        return f"between {above:g} and {below:g}"
    return f"below {below:g}" if below is not None else f"above {above:g}"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value
