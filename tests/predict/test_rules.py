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


def test_a_limited_pools_range_runs_from_the_fluid_limit_to_synchronised_bursts() -> None:
    """§B.4 (E15; issue 13, example 07): the pool passes at most 2 calls per second of cart (1 s each, the sandbox's
    proxies run one worker), so the least shed is the fluid limit against the lowest rate the paced users keep up;
    the most is what 40 users firing together every 0.5 s lose when each connection takes a call every third burst.
    The client's error rate also strays as the share of cart pages does (the pool's passes are fixed)."""
    uo, errors = predict_example("07-circuit-breaker-sheds-load.yaml")
    assert 0.70 < uo.low < 1 - 2 / (80 / 9) < uo.value < uo.high
    assert uo.high == pytest.approx(0.851, abs=0.002)
    assert errors.low < 0.081 and errors.high > 0.09  # runs observed 0.083, 0.088, 0.090 and 0.105 [0.088, 0.123]
    assert any("fluid limit" in a for a in uo.assumptions) and any("fire together" in a for a in uo.assumptions)
    assert any("limited pool" in a for a in errors.assumptions)


POOL = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
        "metadata": {"name": "cart", "namespace": "shop"},
        "spec": {"host": "cart", "trafficPolicy": {"connectionPool": {"http": {"http2MaxRequests": 1}}}}}
UO = {"name": "UO", "measure": "flag_rate", "flag": "UO", "source": "mesh", "service": "cart",
      "sourceWorkload": "frontend-v1", "above": 0.1}


def test_a_limited_pools_low_is_the_fluid_limit_not_zero(predict: Predict) -> None:
    """§B.4 (matrix m32): http2MaxRequests 1 against 6.7 calls/s of 500 ms: at least 1 - 2/(calls/s) is shed
    whatever the arrivals (the sandbox's one worker admits no excess), so the range does not start at 0."""
    doc = experiment([UO], failures=[{"service": "cart", "latencyMs": 500}])
    (p,) = predict(doc, policies={"dr.yaml": POOL})
    assert 0.6 < p.low < 1 - 2 / (60 / 9) < p.value <= p.high


def test_uh_share_leaves_room_for_the_calls_that_trip_the_ejection(predict: Predict) -> None:
    """§B.3 (E17, matrix m23): the only host fails; the 3 calls that eject it are answered by the host (503, not
    UH), later ones get 503 UH: the share runs from 1 - 3/calls to 1."""
    rule = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "cart", "namespace": "shop"},
            "spec": {"host": "cart", "trafficPolicy": {"outlierDetection": {
                "consecutive5xxErrors": 3, "interval": "1s", "baseEjectionTime": "30s", "maxEjectionPercent": 100}}}}
    doc = experiment([{**UO, "name": "UH", "flag": "UH"}], failures=[{"service": "cart", "errorRate": 1.0}])
    (p,) = predict(doc, policies={"dr.yaml": rule})
    calls = 60 / 9 * 15
    assert p.value == 1 and p.high == 1
    assert p.low == pytest.approx(1 - 3 / calls)


def test_a_loss_formulas_far_tail_reads_0_and_the_topology_is_the_running_sandboxs(predict: Predict) -> None:
    """§B.4 (matrix m30): a pool far above its load loses ~1e-200: shown as 0. The assumption names the
    sandbox the snapshot describes, not the demo file."""
    pool = {"tcp": {"maxConnections": 3}, "http": {"http1MaxPendingRequests": 200}}
    roomy = {**POOL, "spec": {"host": "cart", "trafficPolicy": {"connectionPool": pool}}}
    doc = experiment([UO], failures=[{"service": "cart", "latencyMs": 200}])
    (p,) = predict(doc, policies={"dr.yaml": roomy})
    assert p.value == 0

    from harness.experiment import load_experiments
    from harness.predict import predict_experiment
    from tests.predict.conftest import EXAMPLES, demo
    snapshot = demo()
    running = type(snapshot)("the running sandbox (/tmp/state)", snapshot.live, snapshot.topology)
    (loaded,) = load_experiments([EXAMPLES / "07-circuit-breaker-sheds-load.yaml"], check_windows=False)
    first = predict_experiment(loaded, running)[0].assumptions[0]
    assert "the running sandbox (/tmp/state)" in first and "demo/topology.yaml" not in first


def test_a_quantile_within_sampling_noise_of_a_delays_share_spans_both_branches(predict: Predict) -> None:
    """§A.5 (matrix m09): 6 % delays on the catalog slow 8/9 x 6 % = 5.3 % of pages; with ~900 pages the share
    above p95 is 5 % +- 2.2 % (3 sd), so a sample's p95 may be a fast or a delayed page."""
    doc = experiment([{"name": "p95", "measure": "latency_p95", "below": 5000}],
                     faults=[{"host": "productcatalog", "delay": {"fixedDelay": "1500ms", "percentage": 6}}])
    (p,) = predict(doc)
    assert p.low < 100 and p.high >= 1000  # the slow branch: a delayed page (the demo mesh cuts some at 1 s)
    assert any("sampling noise" in a for a in p.assumptions)
