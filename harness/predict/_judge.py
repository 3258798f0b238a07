"""Verdicts beside their predictions: every verdict carries what the semantics predicted; a hypothesis with
``expect: predicted`` is judged on it (PASS when the observed interval contains the prediction, FAIL when it
excludes it: a surprise, INCONCLUSIVE without a prediction or without evidence)."""

from __future__ import annotations

import math
from dataclasses import replace

from harness.experiment import Hypothesis
from harness.predict._prediction import Prediction
from harness.verdict import Outcome, Verdict


def with_prediction(verdict: Verdict, prediction: Prediction | None, h: Hypothesis) -> Verdict:
    """The verdict carrying the prediction; judged on it when the hypothesis says ``expect: predicted``."""
    if prediction is not None and prediction.value is not None:
        verdict = replace(verdict, predicted=prediction.value, assumptions=prediction.assumptions,
                          predicted_range=prediction.range if prediction.range != (prediction.value,) * 2 else None)
    elif prediction is not None:
        verdict = replace(verdict, details={**verdict.details, "no_prediction": prediction.reason})
    if h.expect != "predicted":
        return verdict
    return _judged_on_prediction(verdict, prediction, bounded=h.below is not None or h.above is not None)


def _judged_on_prediction(verdict: Verdict, prediction: Prediction | None, *, bounded: bool) -> Verdict:
    if prediction is None or prediction.value is None:
        why = prediction.reason if prediction is not None else "no prediction was made at preflight"
        return replace(verdict, outcome=Outcome.INCONCLUSIVE, reason=f"expect: predicted, but {why}")
    if verdict.interval is None:
        if verdict.outcome is Outcome.INCONCLUSIVE:
            return verdict  # no evidence: its own reason says why
        return replace(verdict, outcome=Outcome.INCONCLUSIVE,
                       reason=f"expect: predicted needs an interval and this measure gives none ({verdict.reason})")
    if not all(math.isfinite(end) for end in verdict.interval):  # it would contain any prediction at all
        return replace(verdict, outcome=Outcome.INCONCLUSIVE,
                       reason=f"expect: predicted, but the observed interval is unbounded ({verdict.reason})")
    shown = prediction.describe()
    if verdict.surprise:
        outcome, reason = Outcome.FAIL, f"SURPRISE: the observed interval excludes the prediction {shown}"
    else:
        outcome, reason = Outcome.PASS, f"the observed interval contains the prediction {shown}"
    if bounded:  # the bounds must hold too: the worse of the two
        order = (Outcome.PASS, Outcome.INCONCLUSIVE, Outcome.FAIL)
        if order.index(verdict.outcome) > order.index(outcome):
            outcome = verdict.outcome
        reason = f"{reason}; bound: {verdict.reason}"
    return replace(verdict, outcome=outcome, reason=reason)
