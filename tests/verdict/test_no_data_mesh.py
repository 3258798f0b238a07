"""Mesh verdicts never PASS without series: every mesh measure x comparison x bound direction, on a real Prometheus.

The selectors match nothing (a misspelt service, an unknown client workload, a subset nobody calls):
the answer is INCONCLUSIVE naming the label that matched nothing and what exists, never "0 requests,
so below the bound".
"""

from __future__ import annotations

import itertools
import time
from typing import Any, get_args

import pandas as pd
import pytest

from harness.experiment import ENVOY_COUNTERS, Hypothesis
from harness.experiment._model import Measure
from harness.metrics import Prometheus, Window
from harness.verdict import Outcome, Timeline, evaluate
from tests.conftest import needs_prometheus

pytestmark = [needs_prometheus, pytest.mark.sandbox]

MESH_MEASURES = [m for m in get_args(Measure) if m not in ("promql", "latency_shift")]
BOUNDS = [{"below": 0.5}, {"above": 0.5}, {"above": 0.1, "below": 0.9}]
EMPTY = pd.DataFrame(columns=["t", "cohort", "name", "status", "latency_ms", "outcome"])


def hypotheses(service: str, **extra: Any) -> list[Hypothesis]:
    found = []
    for measure, bound, versus in itertools.product(MESH_MEASURES, BOUNDS, (None, "baseline")):
        fields: dict[str, Any] = {"name": f"{measure}-{versus}", "measure": measure, "source": "mesh",
                                  "service": service, **bound, **extra}
        if measure == "flag_rate":
            fields["flag"] = "UT"
        if versus and measure in ("error_rate", "success_rate", "flag_rate"):
            fields["versus"] = versus
        elif versus:
            continue
        found.append(Hypothesis.model_validate(fields))
    return found


@pytest.fixture
def recent(sandbox: Any) -> Timeline:
    """Windows over the last 20 s of a sandbox that has served requests (so other series exist)."""
    from tests.conftest import Client

    client = Client(sandbox.gateway_url)
    client.many(20, "/")
    time.sleep(3)
    now = time.time()
    phases = {"baseline": Window(now - 24, now - 13), "fault": Window(now - 12, now - 1.5),
              "recovery": Window(now - 12, now - 1.5)}
    return Timeline(phases, phases["fault"], scrape_interval_s=sandbox.scrape_interval_s)


@pytest.mark.parametrize("service, extra, names", [
    ("productcatalg", {}, "destination_service_name=\"productcatalg\""),
    ("productcatalog", {"source_workload": "frontend-v9"}, "source_workload=\"frontend-v9\""),
])
def test_no_series_is_never_a_pass_and_says_what_exists(sandbox: Any, recent: Timeline, service: str,
                                                        extra: dict[str, Any], names: str) -> None:
    prometheus = Prometheus(sandbox.prometheus_url)
    for h in hypotheses(service, **extra):
        verdict = evaluate(h, samples=EMPTY, timeline=recent, prometheus=prometheus, namespace="shop")
        assert verdict.outcome is Outcome.INCONCLUSIVE, (h, verdict.reason)
        if h.measure in ENVOY_COUNTERS:
            assert "no such Envoy stat" in verdict.reason or "no series for" in verdict.reason, verdict.reason
        else:
            assert f"no series for {names}" in verdict.reason and "known: " in verdict.reason, verdict.reason
    known = evaluate(hypotheses(service, **extra)[0], samples=EMPTY, timeline=recent, prometheus=prometheus,
                     namespace="shop").reason
    assert ("productcatalog" if service != "productcatalog" else "frontend-v1") in known


def test_a_window_shorter_than_four_scrapes_is_inconclusive_phase_too_short(sandbox: Any) -> None:
    now = time.time()
    short = Timeline({"fault": Window(now - 20, now - 17)}, Window(now - 20, now - 17), scrape_interval_s=1.0)
    h = Hypothesis.model_validate({"name": "e", "measure": "error_rate", "source": "mesh", "service": "productcatalog",
                                   "below": 0.5})
    verdict = evaluate(h, samples=EMPTY, timeline=short, prometheus=Prometheus(sandbox.prometheus_url),
                       namespace="shop")
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.reason == "phase too short: fault: 3s gives 3 scrapes at 1 s; at least 4s needed"


def test_an_event_count_without_a_scrape_after_the_window_is_partial_so_inconclusive(sandbox: Any) -> None:
    """Retries that may still come after Prometheus's last scrape must not make "below" a PASS."""
    from tests.conftest import Client

    Client(sandbox.gateway_url).many(10, "/")
    time.sleep(3)
    now = time.time()
    ahead = Timeline({"fault": Window(now - 10, now + 30)}, Window(now - 10, now + 30), scrape_interval_s=1.0)
    h = Hypothesis.model_validate({"name": "few retries", "measure": "retries", "source": "mesh",
                                   "service": "productcatalog", "subset": "v1", "below": 1000})
    verdict = evaluate(h, samples=EMPTY, timeline=ahead, prometheus=Prometheus(sandbox.prometheus_url),
                       namespace="shop")
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert verdict.reason.startswith("Prometheus has no scrape after the window's end yet"), verdict.reason
