"""The judging vocabulary both sources share: rates, request rates, rate comparisons, and their verdicts.

Client and mesh verdicts differ in where the counts come from, not in how counts become a verdict:
one Wilson interval for a rate, one Poisson interval for a request rate, one Newcombe/Katz interval
for a comparison, one way of saying why.
"""

from __future__ import annotations

from harness.experiment import Hypothesis
from harness.metrics import Window
from harness.verdict._compare import rate_difference_interval, rate_ratio_interval
from harness.verdict._outcome import Outcome, Verdict, judge_interval
from harness.verdict._stats import trials_needed, wilson_interval, z_value

QUANTILES = {"latency_p50": 0.50, "latency_p95": 0.95, "latency_p99": 0.99}


def make_verdict(where: dict[str, object], **fields: object) -> Verdict:
    """A verdict from the hypothesis' fields and these; details are merged (the window may have added a note)."""
    details = {**details_of(where), **details_of(fields)}
    return Verdict(**(where | fields | {"details": details}))  # type: ignore[arg-type]


def details_of(fields: dict[str, object]) -> dict[str, object]:
    found = fields.get("details")
    return dict(found) if isinstance(found, dict) else {}


def no_data(reason: str, where: dict[str, object]) -> Verdict:
    return make_verdict(where, outcome=Outcome.INCONCLUSIVE, reason=reason, samples=0)


def judge_rate(h: Hypothesis, k: int, n: int, base: dict[str, object]) -> Verdict:
    if n == 0:
        return no_data("no requests in the window", base)
    low, high = wilson_interval(k, n, h.confidence)
    outcome = judge_interval(low, high, below=h.below, above=h.above)
    rate = k / n
    reason = interval_reason(outcome, f"{h.confidence:.0%} Wilson interval")
    if outcome is Outcome.INCONCLUSIVE:
        bound = h.below if h.below is not None and low < h.below <= high else h.above
        needed = trials_needed(rate, bound if bound is not None else rate, h.confidence)
        reason = (f"the {h.confidence:.0%} interval [{low:.4f}, {high:.4f}] straddles the bound"
                  + (f"; about {needed} requests would decide it" if needed else ""))
    return make_verdict(base, outcome=outcome, value=rate, interval=(low, high), samples=n, reason=reason,
                    details={"hits": k})


def judge_request_rate(h: Hypothesis, n: int, window: Window, base: dict[str, object]) -> Verdict:
    if n == 0:  # no requests is no load, not a low rate: nothing says the service would have kept up
        return no_data("no requests in the window", base)
    seconds = window.seconds
    rate = n / seconds
    spread = z_value(h.confidence) * n ** 0.5 / seconds  # Poisson approximation
    low, high = max(0.0, rate - spread), rate + spread
    outcome = judge_interval(low, high, below=h.below, above=h.above)
    return make_verdict(base, outcome=outcome, value=rate, interval=(low, high), samples=n,
                    reason=interval_reason(outcome, "Poisson interval"))


def judge_rate_comparison(h: Hypothesis, k1: int, n1: int, k2: int, n2: int, where: dict[str, object]) -> Verdict:
    if n1 == 0 or n2 == 0:
        return no_data("no requests in one of the compared groups", where)
    if h.relation == "ratio":
        value, low, high = rate_ratio_interval(k1, n1, k2, n2, h.confidence)
        kind = "Katz interval of the ratio"
    else:
        value = k1 / n1 - k2 / n2
        low, high = rate_difference_interval(k1, n1, k2, n2, h.confidence)
        kind = "Newcombe interval of the difference"
    outcome = judge_interval(low, high, below=h.below, above=h.above)
    return make_verdict(where, outcome=outcome, value=value, interval=(low, high), samples=n1,
                    reason=interval_reason(outcome, f"{h.confidence:.0%} {kind}"),
                    details={"hits": k1, "reference_hits": k2, "reference_samples": n2})


def interval_reason(outcome: Outcome, interval: str) -> str:
    if outcome is Outcome.PASS:
        return f"the whole {interval} meets the bound"
    if outcome is Outcome.FAIL:
        return f"the whole {interval} violates the bound"
    return f"the {interval} straddles the bound"
