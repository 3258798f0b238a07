"""One test per mechanism the predictions rest on; each cites its section of the semantics reference
(shared/reference/istio-envoy-semantics.md) and checks a value a user reads in `harness predict`."""

from __future__ import annotations

import pytest

from tests.predict.conftest import Predict, experiment, predict_example

SHOP_NEEDS_CATALOG = 8 / 9  # loadprofiles/shop.py: home 5, product 3 need productcatalog; cart 1 does not
ERRORS = {"name": "errors", "measure": "error_rate", "below": 0.5}


def by_name(predictions: list) -> dict:
    return {p.hypothesis: p for p in predictions}


def test_injected_abort_fails_the_run_cohort_only_and_is_not_retried() -> None:
    """§A.5 / A.7 point 2: a 100 % abort fails every tagged request that needs the catalog; no retry hides it."""
    found = by_name(predict_example("01-run-scoped-abort.yaml"))
    assert found["tagged requests that need the catalog fail"].value == pytest.approx(SHOP_NEEDS_CATALOG)
    assert found["control cohort is untouched"].value == 0
    assert found["tagged requests recover after the revert"].value == 0


def test_abort_percentage_is_truncated_as_istio_writes_it(predict: Predict) -> None:
    """§A.5: uint32(0.0003 * 10000) = 2 per million, not 3."""
    doc = experiment([{**ERRORS, "cohort": "tagged"}],
                     faults=[{"host": "productcatalog", "abort": {"httpStatus": 503, "percentage": 0.0003}}])
    (p,) = predict(doc)
    assert p.value == pytest.approx(2e-6 * SHOP_NEEDS_CATALOG)


def test_delay_is_not_cut_by_its_own_routes_timeout() -> None:
    """§A.7 point 1 (E1): a 3 s delay on productcatalog's route passes its 2 s timeout; predicted to FAIL."""
    (p,) = predict_example("03-same-route-timeout-FAILS.yaml")
    assert p.value == pytest.approx(3000)
    assert p.low == 3000 and 3000 < p.high <= 3200  # the proxies' and apps' own time on top
    assert p.meets_bound is False


def test_delay_below_is_cut_by_the_callers_timeout() -> None:
    """§A.3 / A.7 point 1: the frontend's 1 s timeout to recommendation bounds a delay on the next hop (504 UT),
    and recommendations are optional, so pages load in ~1 s."""
    found = by_name(predict_example("02-timeout-protects-frontend.yaml"))
    assert found["pages still load for tagged users"].value == 0
    assert found["tagged pages are bounded by the 1 s timeout"].value == pytest.approx(1000)
    # every tagged call from the frontend to recommendation, half of all (taggedShare 0.5)
    assert found["the frontend's calls to recommendation time out (UT)"].value == pytest.approx(0.5)


def test_retries_go_to_another_host_and_end_with_the_ejection() -> None:
    """§A.4 (previous_hosts, E18) and §B.3: one failing replica of two is retried away; the frontend's sidecar
    retries until outlier detection ejects it after 3 consecutive 5xx."""
    errors, retries = predict_example("04-retries-mask-flaky-replica.yaml")
    assert errors.value == 0
    assert retries.value == 3 and retries.meets_bound is True


def test_without_retries_or_ejection_the_failing_replicas_share_reaches_shoppers() -> None:
    """§A.4 (attempts: 0 → no retry_policy): 8/9 of requests × 80 % to v1 × 1 of 2 replicas fail."""
    (p,) = predict_example("05-retries-off-FAILS.yaml")
    assert p.value == pytest.approx(SHOP_NEEDS_CATALOG * 0.8 * 0.5)
    assert p.meets_bound is False


def test_ejection_count_and_the_failures_before_it() -> None:
    """§B.2/B.3: consecutive5xx 3, maxEjectionPercent 50 of 2 hosts → one ejection within 10 s; only the 3 calls
    before it fail (15 s × 60 req/s)."""
    ejections, errors = predict_example("06-outlier-detection-ejects.yaml")
    assert ejections.value == 1
    assert errors.value == pytest.approx(3 / 900)
    assert errors.high is not None and errors.high > errors.value


def test_default_max_ejection_percent_ejects_nothing_from_few_hosts(predict: Predict) -> None:
    """§B.3 (E19a): maxEjectionPercent unset is 10 %: 2 hosts × 10 % → 0 ejectable, so no ejection at all."""
    rule = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "productcatalog", "namespace": "shop"},
            "spec": {"host": "productcatalog", "trafficPolicy": {"outlierDetection": {"consecutive5xxErrors": 3}},
                     "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                                 {"name": "v2", "labels": {"version": "v2"}}]}}
    doc = experiment([{"name": "ejected", "measure": "ejections", "source": "mesh", "service": "productcatalog",
                       "subset": "v1", "sourceWorkload": "frontend-v1", "above": 0}],
                     failures=[{"service": "productcatalog", "version": "v1", "replica": 0, "errorRate": 1.0}])
    (p,) = predict(doc, policies={"dr.yaml": rule})
    assert p.value == 0 and p.meets_bound is False
    assert any("0 ejectable" in a for a in p.assumptions)


def test_connection_pool_sheds_what_exceeds_it() -> None:
    """§B.4 (E15): 8.9 calls/s of 1 s each against 2 connections: 1 - 2/8.9 of cart calls overflow (UO); the
    range allows Envoy's workers to exceed the limit a little."""
    uo, errors = predict_example("07-circuit-breaker-sheds-load.yaml")
    offered = 80 / 9  # calls in flight: 80 req/s x 1/9 need the cart x 1 s
    terms = [1, offered, offered ** 2 / 2, offered ** 3 / 4]  # M/M/2/3: 2 connections, 1 pending
    assert uo.value == pytest.approx(terms[-1] / sum(terms))
    assert uo.low is not None and uo.low < 1 - 2 / offered < uo.value
    assert errors.value == pytest.approx(uo.value / 9)


def test_per_try_timeouts_are_retried_under_5xx_then_the_sequence_fails(predict: Predict) -> None:
    """§A.4 (E11): a 1 s answer with perTryTimeout 500ms and retryOn 5xx is tried 3 times, each cut at 0.5 s:
    the frontend's call fails after 1.5 s with 504 URX,UT; its call to recommendation then waits for the same
    slow catalog and is cut by the 1 s timeout (§A.3): pages take 2.5 s."""
    hyps = [{"name": "per-try", "measure": "per_try_timeouts", "source": "mesh", "service": "productcatalog",
             "sourceWorkload": "frontend-v1", "above": 0},
            {"name": "URX", "measure": "flag_rate", "flag": "URX", "source": "mesh", "service": "productcatalog",
             "sourceWorkload": "frontend-v1", "above": 0.5},
            {"name": "slow", "measure": "latency_p50", "below": 5000}]
    doc = experiment(hyps, failures=[{"service": "productcatalog", "latencyMs": 1000}],
                     load={"users": 60, "rate": 6, "taggedShare": 0.5})
    per_try, urx, slow = predict(doc)
    assert urx.value == 1.0
    assert per_try.value == pytest.approx(6 * SHOP_NEEDS_CATALOG * 15 * 3)
    assert slow.value == pytest.approx(2500)


def test_versus_baseline_predicts_both_sides(predict: Predict) -> None:
    """A difference is the fault phase's prediction minus the baseline's (no fault there: §A.5 faults only in
    the fault phase)."""
    doc = experiment([{"name": "diff", "measure": "error_rate", "cohort": "tagged", "versus": "baseline",
                       "below": 0.1}], faults=[{"host": "productcatalog", "abort": {"httpStatus": 503}}])
    (p,) = predict(doc)
    assert p.value == pytest.approx(SHOP_NEEDS_CATALOG) and p.meets_bound is False


def test_no_prediction_for_a_raw_query(predict: Predict) -> None:
    doc = experiment([{"name": "q", "measure": "promql", "source": "mesh", "query": "up", "below": 1}],
                     faults=[{"host": "cart", "abort": {"httpStatus": 503}}])
    (p,) = predict(doc)
    assert p.value is None and "PromQL" in p.reason
