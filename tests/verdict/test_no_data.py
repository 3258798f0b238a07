"""No evidence never passes: for every measure, comparison and bound, data that holds nothing to judge is not PASS.

Shared: the hypotheses (every valid shape of a source, with drawn bounds and confidence), the timeline and
``assert_never_pass``. Sections per source build the data that holds no evidence and call ``evaluate``;
the client section is below, a mesh section (a Prometheus with no series, or NaN series) adds its own.
"""

from __future__ import annotations

import itertools
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from harness.experiment import Hypothesis
from harness.experiment._model import CLIENT_FLAGS, ENVOY_RESPONSE_FLAGS
from harness.metrics import Window
from harness.verdict import Outcome, Timeline, Verdict, evaluate

# ---------------------------------------------------------------------------------------------------------------
# Shared: timeline, hypotheses, the assertion

PHASES = {"baseline": Window(1000, 1060), "fault": Window(1062, 1122), "recovery": Window(1124, 1184)}
TIMELINE = Timeline(phases=PHASES, fault_active=Window(1065, 1122))
OUTSIDE = [Window(0, 999), Window(1200, 5000)]  # before the baseline and after the recovery: in no window
MEASURES: tuple[str, ...] = typing.get_args(Hypothesis.model_fields["measure"].annotation)
COMPARISONS = (None, "baseline", "control")
DIRECTIONS = ("below", "above", "both")
FLAGS = {"client": CLIENT_FLAGS, "mesh": ENVOY_RESPONSE_FLAGS}
SOURCE_FIELDS: dict[str, dict[str, Any]] = {"client": {}, "mesh": {"service": "productcatalog"}}


def _is_valid(spec: dict[str, Any]) -> bool:
    try:
        Hypothesis.model_validate({**spec, "below": 1.0})
    except ValidationError:
        return False
    return True


def hypothesis_shapes(source: str) -> list[dict[str, Any]]:
    """Every valid measure x cohort x phase x comparison x relation (x flag) of ``source``, without bounds."""
    shapes = []
    for measure, cohort, phase, versus, relation in itertools.product(
            MEASURES, ("tagged", "control", "all"), PHASES, COMPARISONS, ("difference", "ratio")):
        for flag in FLAGS[source] if measure == "flag_rate" else (None,):
            spec = {"name": "no evidence", "measure": measure, "source": source, "cohort": cohort, "phase": phase,
                    "versus": versus, "relation": relation, "flag": flag, **SOURCE_FIELDS[source]}
            if measure == "promql":
                spec["query"] = "sum(increase(my_metric[$window]))"
            if _is_valid(spec):
                shapes.append(spec)
    return shapes


@st.composite
def bounds(draw: st.DrawFn, direction: str, *, ratio: bool) -> dict[str, float]:
    """``below``, ``above`` or both (above < below); a ratio's bounds are positive."""
    values = st.floats(0.01, 50) if ratio else st.floats(-2000, 2000)
    if direction != "both":
        return {direction: draw(values)}
    low, high = sorted(draw(st.lists(values, min_size=2, max_size=2, unique=True)))
    return {"above": low, "below": high}


@st.composite
def hypotheses(draw: st.DrawFn, shapes: list[dict[str, Any]], direction: str) -> Hypothesis:
    """One of ``shapes`` with bounds in ``direction`` and a confidence."""
    shape = draw(st.sampled_from(shapes))
    confidence = draw(st.sampled_from([0.8, 0.9, 0.95, 0.99, 0.999]))
    spec = {**shape, **draw(bounds(direction, ratio=shape["relation"] == "ratio")), "confidence": confidence}
    return Hypothesis.model_validate(spec)


def assert_never_pass(verdict: Verdict, h: Hypothesis, scenario: str) -> None:
    assert verdict.outcome is not Outcome.PASS, (
        f"PASS without evidence ({scenario}): {h.model_dump(exclude_none=True)} -> {verdict.reason}")


def cases(shapes: list[dict[str, Any]]) -> list[Any]:
    """pytest params: every measure x comparison x direction that has a valid shape."""
    params = []
    for measure, versus, direction in itertools.product(MEASURES, COMPARISONS, DIRECTIONS):
        chosen = [s for s in shapes if s["measure"] == measure and s["versus"] == versus]
        if chosen:
            params.append(pytest.param(chosen, direction, id=f"{measure}-{versus or 'alone'}-{direction}"))
    return params


# ---------------------------------------------------------------------------------------------------------------
# Client: the load's record holds nothing for the hypothesis

CLIENT_SHAPES = hypothesis_shapes("client")
COLUMNS = ["t", "cohort", "name", "status", "latency_ms", "outcome"]
NAN = float("nan")


def compared_cohorts(h: Hypothesis) -> list[str]:
    return [h.cohort, "control"] if h.versus == "control" else [h.cohort]


@st.composite
def records(draw: st.DrawFn, windows: list[Window], cohorts: list[str], *, latency: bool = True,
            outcome: bool = True) -> pd.DataFrame:
    """Requests at times inside ``windows`` from ``cohorts``; NaN where ``latency`` or ``outcome`` is False."""
    rows = draw(st.lists(st.tuples(st.sampled_from(windows), st.floats(0, 1, exclude_max=True),
                                   st.sampled_from(cohorts), st.sampled_from(["ok", *CLIENT_FLAGS]),
                                   st.floats(0, 5000)), min_size=1, max_size=40))
    return pd.DataFrame([{"t": w.start + share * w.seconds, "cohort": cohort, "name": "home",
                          "status": 200 if kind == "ok" else 503 if outcome else NAN,
                          "latency_ms": ms if latency else NAN, "outcome": kind if outcome else NAN}
                         for w, share, cohort, kind, ms in rows], columns=COLUMNS)


def judged_windows(h: Hypothesis) -> list[Window]:
    return [TIMELINE.window(h.phase)[0] or PHASES[h.phase]]


def empty(h: Hypothesis) -> st.SearchStrategy[pd.DataFrame]:
    return st.sampled_from([pd.DataFrame(columns=COLUMNS), pd.DataFrame()])


def outside_every_window(h: Hypothesis) -> st.SearchStrategy[pd.DataFrame]:
    return records(OUTSIDE, ["tagged", "control"])


def only_in_other_phases(h: Hypothesis) -> st.SearchStrategy[pd.DataFrame]:
    """Requests in every phase but the judged one: a comparison's reference may be full, its subject is empty."""
    others = [w for name, w in PHASES.items() if name != h.phase]
    return records(others, ["tagged", "control"])


def a_compared_cohort_without_rows(h: Hypothesis) -> st.SearchStrategy[pd.DataFrame]:
    """Requests everywhere, but none from one of the compared cohorts (``all`` has no other cohort: empty)."""
    missing = [c for c in compared_cohorts(h) if c != "all"]
    if not missing:
        return empty(h)
    return st.sampled_from(missing).flatmap(
        lambda gone: records([*PHASES.values()], [c for c in ("tagged", "control") if c != gone]))


def all_nan(h: Hypothesis) -> st.SearchStrategy[pd.DataFrame]:
    """Rows in every window and cohort, with neither a latency nor an outcome recorded."""
    return records([*PHASES.values()], ["tagged", "control"], latency=False, outcome=False)


def nan_latencies(h: Hypothesis) -> st.SearchStrategy[pd.DataFrame]:
    """Outcomes recorded, latencies not: latency measures have nothing to rank (rates are real evidence)."""
    return records([*PHASES.values()], ["tagged", "control"], latency=False)


@dataclass(frozen=True)
class Scenario:
    name: str
    samples: Callable[[Hypothesis], st.SearchStrategy[pd.DataFrame]]
    applies: Callable[[Hypothesis], bool] = lambda h: True


CLIENT_SCENARIOS = [
    Scenario("empty", empty),
    Scenario("only outside every window", outside_every_window),
    Scenario("only in other phases", only_in_other_phases),
    Scenario("a compared cohort without rows", a_compared_cohort_without_rows),
    Scenario("all NaN", all_nan),
    Scenario("NaN latencies", nan_latencies, applies=lambda h: h.measure.startswith("latency")),
]


@pytest.mark.parametrize(("shapes", "direction"), cases(CLIENT_SHAPES))
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_client_verdicts_without_evidence_are_inconclusive(shapes: list[dict[str, Any]], direction: str,
                                                           data: st.DataObject) -> None:
    h = data.draw(hypotheses(shapes, direction), label="hypothesis")
    scenario = data.draw(st.sampled_from([s for s in CLIENT_SCENARIOS if s.applies(h)]), label="scenario")
    samples = data.draw(scenario.samples(h), label="samples")
    verdict = evaluate(h, samples=samples, timeline=TIMELINE, prometheus=None, namespace="shop")
    assert_never_pass(verdict, h, scenario.name)
    assert verdict.outcome is Outcome.INCONCLUSIVE and verdict.reason.startswith("no requests"), verdict.reason


def test_client_cases_cover_every_client_measure_comparison_and_direction() -> None:
    covered = {(p.values[0][0]["measure"], p.values[0][0]["versus"], p.values[1]) for p in cases(CLIENT_SHAPES)}
    client_measures = {s["measure"] for s in CLIENT_SHAPES}
    assert client_measures == {"error_rate", "success_rate", "flag_rate", "request_rate", "latency_p50",
                               "latency_p95", "latency_p99", "latency_shift"}
    for measure, versus, direction in itertools.product(client_measures, COMPARISONS, DIRECTIONS):
        valid = (measure != "request_rate" or versus is None) and (measure != "latency_shift" or versus)
        assert ((measure, versus, direction) in covered) == bool(valid), (measure, versus, direction)
