"""Fuzz the experiment loader: any document gives a valid model or a clean, located error."""

from __future__ import annotations

import contextlib

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.errors import ExperimentError
from harness.experiment import Experiment, load_experiment_text

KEYS = ["apiVersion", "kind", "metadata", "name", "faults", "host", "delay", "abort", "fixedDelay", "httpStatus",
        "percentage", "phases", "fault", "baseline", "load", "users", "rate", "hypotheses", "measure", "below",
        "above", "cohort", "scope", "headers", "exact", "target", "namespace", "routes", "x"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-10, 10_000), st.floats(allow_nan=True),
                    st.text(max_size=12), st.sampled_from(["harness/v1", "Experiment", "1s", "cart", "all", "run"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=6)), max_leaves=25)
documents = st.dictionaries(st.sampled_from(KEYS), values, max_size=8).map(
    lambda d: {"apiVersion": "harness/v1", "kind": "Experiment", **d})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_generated_documents_load_or_fail_cleanly(document: dict) -> None:
    text = yaml.safe_dump(document)
    try:
        loaded = load_experiment_text(text)
    except ExperimentError as exc:
        assert exc.problems, "an invalid document must say where and why"
        assert all(p.location.line is not None for p in exc.problems)
    else:
        assert all(isinstance(item.experiment, Experiment) for item in loaded)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_never_crashes(text: str) -> None:
    with contextlib.suppress(ExperimentError):
        load_experiment_text(text)
