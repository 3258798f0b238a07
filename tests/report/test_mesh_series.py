"""What the report fetches to draw a mesh hypothesis: the measure's range queries and Envoy events per scrape."""

from __future__ import annotations

import pandas as pd

from harness.experiment import Hypothesis
from harness.metrics import Window
from harness.report._mesh_series import events_per_step, plan_series


def hypothesis(**fields: object) -> Hypothesis:
    return Hypothesis.model_validate({"name": "h", "source": "mesh", "service": "productcatalog", "phase": "fault",
                                      **fields})


def test_an_error_rate_is_drawn_as_its_ratio_and_the_request_rate_from_range_queries() -> None:
    plan = plan_series(hypothesis(measure="error_rate", below=0.01, sourceWorkload="frontend-v1"), "shop", step_s=1.0)
    (ratio_name, ratio), (rate_name, rate) = plan.ranged
    assert ratio_name == "error rate" and rate_name == "requests / s"
    assert ratio.startswith('(sum(rate(istio_requests_total{destination_service_name="productcatalog"')
    assert 'response_code=~"5.."' in ratio and ratio.endswith(f") or vector(0)) / {rate}")  # no 5xx yet: 0, not empty
    assert "[4s]" in rate  # a few scrapes per rate(), so every step has two samples
    assert [name for name, _ in plan.counters] == ["ejections", "pending overflows", "retries", "timeouts",
                                                   "per-try timeouts"]


def test_an_event_counter_is_drawn_from_its_counter_alone() -> None:
    plan = plan_series(hypothesis(measure="ejections", above=0, subset="v1"), "shop", step_s=15.0)
    assert plan.ranged == ()
    assert all(r'cluster_name=~"outbound\\|[0-9]+\\|v1\\|productcatalog\\.shop\\.svc' in q for _, q in plan.counters)


def test_events_per_step_count_increments_resets_and_series_born_during_the_run() -> None:
    rows = [(0, 0, t, v) for t, v in ((100, 5), (101, 5), (102, 7), (103, 1), (104, 2))]  # a reset at 103: 1 counts
    rows += [(1, 1, t, v) for t, v in ((103, 4), (104, 4))]  # a pod born at 103 with 4 events already
    frame = pd.DataFrame(rows, columns=["series", "target", "timestamp", "value"])
    events = events_per_step(frame, Window(100, 104), 1.0)
    assert dict(zip(events["t"], events["value"], strict=True)) == {101.0: 0.0, 102.0: 2.0, 103.0: 5.0, 104.0: 1.0}
