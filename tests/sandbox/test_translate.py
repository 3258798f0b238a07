"""Istio -> Envoy translation follows istiod's rules and defaults (no processes started)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.errors import MeshConfigError
from harness.istio import load_istio
from harness.sandbox import load_topology
from harness.sandbox._layout import plan_layout
from harness.sandbox._translate import Translation, translate

CATALOG = "outbound|8080||productcatalog.shop.svc.cluster.local"
DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"


def build(tmp_path: Path, text: str) -> Translation:
    path = tmp_path / "mesh.yaml"
    path.write_text(text)
    topology = load_topology()
    layout = plan_layout(topology, {80})
    return translate(topology, layout, load_istio([path]).resources)


def vs(http: str, *, host: str = "productcatalog", extra: str = "") -> str:
    return (f"apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: t, namespace: shop}}\n"
            f"spec:\n  hosts: [{host}]\n{extra}  http:\n{http}")


def dr(policy: str) -> str:
    return ("\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
            "metadata: {name: pc, namespace: shop}\nspec:\n  host: productcatalog\n"
            "  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]\n" + policy)


def catalog_routes(result: Translation, proxy: str = "frontend-v1") -> list[dict[str, Any]]:
    vhosts = result.configs[proxy].routes["8080"]["virtual_hosts"]
    return next(v["routes"] for v in vhosts if v["name"].startswith("productcatalog."))


def cluster(result: Translation, name: str = CATALOG, proxy: str = "frontend-v1") -> dict[str, Any]:
    return next(c for c in result.configs[proxy].clusters if c["name"] == name)


def test_service_without_virtualservice_gets_istios_default_route(tmp_path: Path) -> None:
    (route,) = catalog_routes(build(tmp_path, vs("    - route: [{destination: {host: cart}}]\n", host="cart")))
    assert route["route"]["cluster"] == CATALOG
    assert route["route"]["timeout"] == "0s"  # disabled, not Envoy's 15 s
    policy = route["route"]["retry_policy"]
    assert policy["num_retries"] == 2 and policy["retry_on"] == DEFAULT_RETRY_ON
    assert "retriable_status_codes" not in policy  # Istio >= 1.24
    assert policy["host_selection_retry_max_attempts"] == "5"


def test_timeout_retries_and_numeric_retry_codes(tmp_path: Path) -> None:
    (route,) = catalog_routes(build(tmp_path, vs(
        "    - route: [{destination: {host: productcatalog}}]\n      timeout: 1.5s\n"
        "      retries: {attempts: 3, perTryTimeout: 250ms, retryOn: 'gateway-error, 503,reset'}\n")))
    action = route["route"]
    assert action["timeout"] == "1.5s"
    assert action["retry_policy"]["num_retries"] == 3
    assert action["retry_policy"]["per_try_timeout"] == "0.25s"
    assert action["retry_policy"]["retry_on"] == "gateway-error,reset,retriable-status-codes"
    assert action["retry_policy"]["retriable_status_codes"] == [503]


def test_attempts_zero_disables_retries(tmp_path: Path) -> None:
    (route,) = catalog_routes(build(tmp_path, vs(
        "    - route: [{destination: {host: productcatalog}}]\n      retries: {attempts: 0}\n")))
    assert "retry_policy" not in route["route"]


def test_attempts_zero_with_retry_on_is_rejected_like_istio(tmp_path: Path) -> None:
    with pytest.raises(MeshConfigError, match=r"spec.http\[0\].retries.attempts"):
        build(tmp_path, vs("    - route: [{destination: {host: productcatalog}}]\n      retries: {retryOn: 5xx}\n"))


@pytest.mark.parametrize(("value", "numerator"), [(100, 1_000_000), (10, 100_000), (0.0003, 2), (0.0012, 11),
                                                   (33.3333, 333_333)])
def test_fault_percentage_is_per_million_with_istios_truncation(tmp_path: Path, value: float, numerator: int) -> None:
    (route,) = catalog_routes(build(tmp_path, vs(
        f"    - route: [{{destination: {{host: productcatalog}}}}]\n"
        f"      fault: {{abort: {{httpStatus: 503, percentage: {{value: {value}}}}}}}\n")))
    abort = route["typed_per_filter_config"]["envoy.filters.http.fault"]["abort"]
    assert abort == {"http_status": 503, "percentage": {"numerator": numerator, "denominator": "MILLION"}}


def test_fault_without_percentage_never_fires(tmp_path: Path) -> None:
    (route,) = catalog_routes(build(tmp_path, vs(
        "    - route: [{destination: {host: productcatalog}}]\n"
        "      fault: {delay: {fixedDelay: 2s}, abort: {grpcStatus: UNAVAILABLE}}\n")))
    fault = route["typed_per_filter_config"]["envoy.filters.http.fault"]
    assert fault["delay"] == {"fixed_delay": "2s", "percentage": {"numerator": 0, "denominator": "HUNDRED"}}
    assert fault["abort"] == {"grpc_status": 14}  # no percentage: Envoy's default numerator 0


def test_matches_headers_sorted_and_catch_all_stops_the_list(tmp_path: Path) -> None:
    routes = catalog_routes(build(tmp_path, vs(
        "    - name: tagged\n"
        "      match: [{headers: {x-b: {prefix: p}, x-a: {exact: e}}, uri: {regex: '/p.*'}}, {headers: {x-c: {}}}]\n"
        "      route: [{destination: {host: productcatalog}}]\n"
        "    - name: rest\n      route: [{destination: {host: productcatalog}}]\n"
        "    - name: never\n      route: [{destination: {host: productcatalog}}]\n")))
    assert [r.get("name") for r in routes] == ["tagged", "tagged", "rest"]
    first = routes[0]["match"]
    assert first["safe_regex"] == {"regex": "/p.*"} and first["case_sensitive"] is True
    assert [h["name"] for h in first["headers"]] == ["x-a", "x-b"]
    assert routes[1]["match"]["headers"] == [{"name": "x-c", "present_match": True}]


def test_source_labels_apply_per_client_workload(tmp_path: Path) -> None:
    result = build(tmp_path, vs(
        "    - name: from-recommendation\n      match: [{sourceLabels: {app: recommendation}}]\n"
        "      route: [{destination: {host: productcatalog}}]\n"
        "      fault: {abort: {httpStatus: 500, percentage: {value: 100}}}\n"
        "    - name: rest\n      route: [{destination: {host: productcatalog}}]\n"))
    # for recommendation's proxy the first route is a catch-all, so Istio stops there
    assert [r["name"] for r in catalog_routes(result, "recommendation-v1")] == ["from-recommendation"]
    assert [r["name"] for r in catalog_routes(result, "frontend-v1")] == ["rest"]


def test_weighted_subsets(tmp_path: Path) -> None:
    (route,) = catalog_routes(build(tmp_path, vs(
        "    - route:\n        - {destination: {host: productcatalog, subset: v1}, weight: 90}\n"
        "        - {destination: {host: productcatalog, subset: v2}, weight: 10}\n"
        "        - {destination: {host: productcatalog, subset: v2}, weight: 0}\n") + dr("")))
    assert route["route"]["weighted_clusters"]["clusters"] == [
        {"name": "outbound|8080|v1|productcatalog.shop.svc.cluster.local", "weight": 90},
        {"name": "outbound|8080|v2|productcatalog.shop.svc.cluster.local", "weight": 10}]


def test_cluster_defaults_are_istios(tmp_path: Path) -> None:
    result = build(tmp_path, vs("    - route: [{destination: {host: cart}}]\n", host="cart"))
    c = cluster(result)
    assert c["alt_stat_name"] == CATALOG + ";"
    assert c["lb_policy"] == "LEAST_REQUEST"
    assert c["connect_timeout"] == "10s"
    assert c["circuit_breakers"]["thresholds"] == [{"max_connections": 4294967295, "max_pending_requests": 4294967295,
                                                    "max_requests": 4294967295, "max_retries": 4294967295,
                                                    "track_remaining": False}]
    assert "outlier_detection" not in c and "common_lb_config" not in c
    assert len(c["load_assignment"]["endpoints"][0]["lb_endpoints"]) == 3


def test_outlier_detection_fields_and_panic_threshold(tmp_path: Path) -> None:
    result = build(tmp_path, vs("    - route: [{destination: {host: cart}}]\n", host="cart") + dr(
        "  trafficPolicy:\n    loadBalancer: {simple: ROUND_ROBIN}\n"
        "    outlierDetection: {consecutive5xxErrors: 4, consecutiveGatewayErrors: 0, interval: 2s,\n"
        "                       baseEjectionTime: 1m, maxEjectionPercent: 50}\n"))
    c = cluster(result)
    assert c["outlier_detection"] == {"enforcing_success_rate": 0, "consecutive_5xx": 4, "enforcing_consecutive_5xx": 100,
                                      "consecutive_gateway_failure": 0, "enforcing_consecutive_gateway_failure": 0,
                                      "interval": "2s", "base_ejection_time": "60s", "max_ejection_percent": 50}
    assert c["common_lb_config"] == {"healthy_panic_threshold": {"value": 0.0}}
    assert c["lb_policy"] == "ROUND_ROBIN"
    v2 = cluster(result, "outbound|8080|v2|productcatalog.shop.svc.cluster.local")
    assert v2["outlier_detection"]["consecutive_5xx"] == 4  # subsets inherit the rule's policy
    assert len(v2["load_assignment"]["endpoints"][0]["lb_endpoints"]) == 1


def test_subset_policy_replaces_a_component_and_port_level_replaces_everything(tmp_path: Path) -> None:
    result = build(tmp_path, vs("    - route: [{destination: {host: cart}}]\n", host="cart") + (
        "\n---\napiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: pc, namespace: shop}\n"
        "spec:\n  host: productcatalog\n  trafficPolicy:\n"
        "    connectionPool: {tcp: {maxConnections: 7}}\n    outlierDetection: {consecutive5xxErrors: 2}\n"
        "  subsets:\n  - name: v2\n    labels: {version: v2}\n"
        "    trafficPolicy: {connectionPool: {http: {http1MaxPendingRequests: 3, maxRetries: 0}}}\n"))
    v2 = cluster(result, "outbound|8080|v2|productcatalog.shop.svc.cluster.local")
    assert v2["circuit_breakers"]["thresholds"][0]["max_connections"] == 4294967295  # not inherited
    assert v2["circuit_breakers"]["thresholds"][0]["max_pending_requests"] == 3
    assert v2["circuit_breakers"]["thresholds"][0]["max_retries"] == 4294967295  # 0 means unset in Istio
    assert v2["outlier_detection"]["consecutive_5xx"] == 2


def test_gateway_binding_and_blackhole_without_virtualservice(tmp_path: Path) -> None:
    gateway = ("apiVersion: networking.istio.io/v1\nkind: Gateway\nmetadata: {name: gw, namespace: shop}\n"
               "spec:\n  selector: {istio: ingressgateway}\n  servers: [{port: {number: 80, protocol: HTTP}, "
               "hosts: ['*']}]\n---\n")
    bound = build(tmp_path, gateway + vs("    - route: [{destination: {host: frontend}}]\n", host="shop.example.com",
                                         extra="  gateways: [gw]\n"))
    (vhost,) = bound.configs["istio-ingressgateway"].routes["http.80"]["virtual_hosts"]
    assert vhost["domains"] == ["shop.example.com"]
    assert vhost["routes"][0]["route"]["cluster"] == "outbound|8080||frontend.shop.svc.cluster.local"
    # a gateway-bound VS does not touch sidecars
    assert all(not v["name"].startswith("shop.example.com")
               for v in bound.configs["frontend-v1"].routes["8080"]["virtual_hosts"])
    unbound = build(tmp_path, gateway)
    assert unbound.configs["istio-ingressgateway"].routes["http.80"]["virtual_hosts"] == [
        {"name": "blackhole:80", "domains": ["*"], "routes": []}]


def test_destination_to_an_undefined_subset_is_a_warning(tmp_path: Path) -> None:
    result = build(tmp_path, vs("    - route: [{destination: {host: productcatalog, subset: v9}}]\n"))
    assert any("subset 'v9' is not defined" in str(w) and "mesh.yaml:7:" in str(w) for w in result.warnings)
