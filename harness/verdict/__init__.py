"""Verdicts: PASS, FAIL or INCONCLUSIVE with statistics honest about the evidence."""

from harness.verdict._evaluate import Timeline, evaluate
from harness.verdict._outcome import Outcome, Verdict, judge_interval
from harness.verdict._stats import bucket_quantile_interval, quantile_interval, trials_needed, wilson_interval

__all__ = ["Outcome", "Timeline", "Verdict", "bucket_quantile_interval", "evaluate", "judge_interval",
           "quantile_interval", "trials_needed", "wilson_interval"]
