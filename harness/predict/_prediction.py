"""A prediction: the value the Istio/Envoy semantics give a hypothesis' measure, and what it rests on."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Prediction:
    """What one hypothesis should observe if the mesh behaves as the semantics reference says.

    ``value`` is in the hypothesis' own unit (rates 0..1, latency in ms as the client measures it, Envoy
    counters per window, request rates per second); ``low``/``high`` bound it where the semantics give a range
    (a latency's overhead, an ejection's timing). ``reason`` says why there is no value.
    """

    hypothesis: str
    measure: str
    phase: str
    cohort: str
    value: float | None
    low: float | None = None
    high: float | None = None
    assumptions: tuple[str, ...] = ()
    reason: str = ""
    source: str = "client"
    bound: str = ""                 # the hypothesis' bound ("below 0.02"), "" for expect: predicted
    meets_bound: bool | None = None  # the prediction meets the bound; False: predicted to FAIL; None: cannot say

    @property
    def range(self) -> tuple[float, float] | None:
        if self.value is None:
            return None
        return (self.value if self.low is None else self.low, self.value if self.high is None else self.high)

    def excluded_by(self, interval: tuple[float, float] | None) -> bool | None:
        """Whether an observed interval excludes the prediction (a surprise); None when either is missing."""
        span = self.range
        if span is None or interval is None:
            return None
        return interval[1] < span[0] or interval[0] > span[1]

    def describe(self) -> str:
        """``0.889`` or ``1000 (1000..1100)``; the reason when there is no value."""
        if self.value is None:
            return f"no prediction ({self.reason})" if self.reason else "no prediction"
        text = f"{self.value:.4g}"
        span = self.range
        if span is not None and span[0] != span[1]:
            text += f" ({span[0]:.4g}..{span[1]:.4g})"
        return text

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["assumptions"] = list(self.assumptions)
        return data


def unpredicted(hypothesis: Any, reason: str, assumptions: tuple[str, ...] = ()) -> Prediction:
    """No value: the semantics do not decide this measure (a raw query, a rank test) or the mesh is unknown."""
    return Prediction(hypothesis.name, hypothesis.measure, hypothesis.phase, hypothesis.cohort, None,
                      assumptions=assumptions, reason=reason, source=hypothesis.source)
