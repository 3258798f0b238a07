"""What one proxy does with one call: each rule against the semantics reference section it restates."""

from __future__ import annotations

from typing import Any

import pytest

from harness.istio import (
    Caller,
    DestinationRule,
    VirtualService,
    choose_route,
    cluster_outlier,
    fault_of,
    istio_ppm,
    outlier_of,
    retry_of,
    virtual_services_for,
)
from harness.istio._resources import HTTPFaultInjection, HTTPRetry, OutlierDetection


def retry(**fields: Any) -> Any:
    return retry_of(HTTPRetry.model_validate(fields))


def test_unset_retries_are_istios_default_which_does_not_retry_503() -> None:
    default = retry_of(None)
    assert default is not None and default.is_default and default.attempts == 2
    assert not default.retries_status(503) and not default.retries_status(500)  # §A.4, E7 (since 1.24)


@pytest.mark.parametrize("fields", [{"attempts": 0}, {}, {"retryIgnorePreviousHosts": True}])
def test_attempts_zero_or_missing_means_no_retry_policy(fields: dict[str, Any]) -> None:
    assert retry(**fields) is None  # retry.ConvertPolicy: in.Attempts <= 0 -> nil


def test_retry_on_tokens_and_status_codes() -> None:
    policy = retry(attempts=3, retryOn="gateway-error, 500", perTryTimeout="250ms")
    assert policy.attempts == 3 and policy.per_try_timeout_s == 0.25
    assert policy.status_codes == {500} and "retriable-status-codes" in policy.retry_on  # appended by parseRetryOn
    assert [policy.retries_status(s) for s in (500, 502, 503, 504, 501)] == [True, True, True, True, False]
    assert policy.retries_timeouts()
    assert not retry(attempts=1, retryOn="connect-failure").retries_timeouts()  # E10: per-try timeout not retried
    assert retry(attempts=1, retryOn="5xx").retries_status(501)


@pytest.mark.parametrize(("percent", "ppm"), [(100, 1_000_000), (50, 500_000), (0.0003, 2), (0.0012, 11), (0.0001, 1)])
def test_percentages_truncate_to_parts_per_million(percent: float, ppm: int) -> None:
    assert istio_ppm(percent) == ppm  # §A.5: uint32(value*10000)


def test_a_fault_without_percentage_never_fires() -> None:
    fault = fault_of(HTTPFaultInjection.model_validate({"abort": {"httpStatus": 503},
                                                        "delay": {"fixedDelay": "2s", "percent": 30}}))
    assert fault is not None
    assert not fault.aborts and fault.abort_fraction == 0  # E3
    assert fault.delays and fault.delay_s == 2 and fault.delay_fraction == 0.3  # the deprecated int is per hundred


def vs(spec: dict[str, Any], name: str = "reviews", namespace: str = "shop") -> VirtualService:
    return VirtualService.model_validate({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                                          "metadata": {"name": name, "namespace": namespace}, "spec": spec})


FRONTEND = Caller("frontend-v1", {"app": "frontend", "version": "v1"})
GATEWAY = Caller("ingress", {"istio": "ingressgateway"}, frozenset({"shop/shop-gateway"}))
HOST = "reviews.shop.svc.cluster.local"


def test_gateways_decide_which_proxies_get_a_virtual_service() -> None:
    mesh_only = vs({"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews"}}]}]})
    gateway_only = vs({"hosts": ["reviews"], "gateways": ["shop-gateway"],
                       "http": [{"route": [{"destination": {"host": "reviews"}}]}]}, name="edge")
    assert virtual_services_for([mesh_only, gateway_only], HOST, FRONTEND) == [mesh_only]
    assert virtual_services_for([mesh_only, gateway_only], HOST, GATEWAY) == [gateway_only]


def test_the_first_matching_route_wins_and_source_labels_select_the_proxy() -> None:
    service = vs({"hosts": ["reviews"], "http": [
        {"name": "from-cart", "match": [{"sourceLabels": {"app": "cart"}}], "route": [{"destination": {"host": "reviews"}}]},
        {"name": "tagged", "match": [{"headers": {"x-chaos-run": {"exact": "r1"}}}], "timeout": "1s",
         "route": [{"destination": {"host": "reviews", "subset": "v1"}, "weight": 75},
                   {"destination": {"host": "reviews", "subset": "v2"}, "weight": 25}]},
        {"name": "rest", "route": [{"destination": {"host": "reviews"}}]}]})
    tagged = choose_route(service, Caller("f", FRONTEND.labels, headers={"x-chaos-run": "r1"}), HOST, "/")
    assert tagged is not None and tagged.index == 1 and tagged.timeout_s == 1
    assert [(d.subset, d.share) for d in tagged.destinations] == [("v1", 0.75), ("v2", 0.25)]
    plain = choose_route(service, FRONTEND, HOST, "/")
    assert plain is not None and plain.index == 2 and plain.timeout_s is None  # §A.3: unset is disabled
    default = choose_route(None, FRONTEND, HOST, "/")
    assert default is not None and default.retry is not None and default.retry.is_default


def test_no_matching_route_is_a_404() -> None:
    only_api = vs({"hosts": ["reviews"], "http": [{"match": [{"uri": {"prefix": "/api"}}],
                                                     "route": [{"destination": {"host": "reviews"}}]}]})
    assert choose_route(only_api, FRONTEND, HOST, "/") is None
    assert choose_route(only_api, FRONTEND, HOST, "/api/x") is not None


def rule(spec: dict[str, Any]) -> DestinationRule:
    return DestinationRule.model_validate({"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                                           "metadata": {"name": "reviews", "namespace": "shop"}, "spec": spec})


@pytest.mark.parametrize(("hosts", "max_percent", "ejectable"), [(3, None, 0), (10, None, 1), (3, 34, 1), (2, 50, 1),
                                                                 (9, None, 0), (4, 100, 4)])
def test_strict_max_ejection_percent(hosts: int, max_percent: int | None, ejectable: int) -> None:
    # §B.3 / E19: 3 hosts at the default 10 % never eject; 10 hosts eject one; 34 % of 3 ejects one
    od = OutlierDetection.model_validate({"maxEjectionPercent": max_percent} if max_percent else {})
    outlier = outlier_of(od)
    assert outlier is not None and outlier.ejectable_hosts(hosts) == ejectable


def test_outlier_defaults_and_what_counts() -> None:
    outlier = outlier_of(OutlierDetection.model_validate({}))
    assert outlier is not None
    assert (outlier.consecutive_5xx, outlier.interval_s, outlier.base_ejection_s) == (5, 10.0, 30.0)  # §B.2
    assert outlier.counts(500) and not outlier.counts(404) and outlier.threshold(503) == 5
    off = outlier_of(OutlierDetection.model_validate({"consecutive5xxErrors": 0, "consecutiveGatewayErrors": 2}))
    assert off is not None and not off.counts(500) and off.threshold(503) == 2


def test_a_subsets_outlier_detection_replaces_the_rules_and_port_level_replaces_everything() -> None:
    dr = rule({"host": "reviews", "trafficPolicy": {
        "outlierDetection": {"consecutive5xxErrors": 3},
        "portLevelSettings": [{"port": {"number": 9080}, "outlierDetection": {"consecutive5xxErrors": 7}}]},
        "subsets": [{"name": "v1", "labels": {"version": "v1"},
                     "trafficPolicy": {"outlierDetection": {"consecutive5xxErrors": 9}}},
                    {"name": "v2", "labels": {"version": "v2"}}]})
    assert cluster_outlier(dr, None, None).consecutive_5xx_errors == 3  # type: ignore[union-attr]
    assert cluster_outlier(dr, "v1", None).consecutive_5xx_errors == 9  # type: ignore[union-attr]
    assert cluster_outlier(dr, "v2", None).consecutive_5xx_errors == 3  # type: ignore[union-attr]
    assert cluster_outlier(dr, None, 9080).consecutive_5xx_errors == 7  # type: ignore[union-attr]
    assert cluster_outlier(None, "v1", None) is None


def test_route_describes_itself() -> None:
    service = vs({"hosts": ["reviews"], "http": [{"name": "main", "route": [{"destination": {"host": "reviews"}}]}]})
    route = choose_route(service, FRONTEND, HOST, "/")
    assert route is not None and route.describe() == "VirtualService shop/reviews http[0] (main)"
