"""Istio standard metrics and Envoy stats reach Prometheus with the names and labels of a real mesh."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import parallel, prom_query
from tests.sandbox.meshes import GATEWAY

pytestmark = pytest.mark.sandbox


def gateway_vs(name: str, body: str) -> str:
    return f"""
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {{name: {name}, namespace: shop}}
spec:
  hosts: [{name}.test]
  gateways: [gw]
  http:
{body}
"""


MESH = GATEWAY + gateway_vs("fi", """
    - route: [{destination: {host: productcatalog}}]
      fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
""") + gateway_vs("di", """
    - route: [{destination: {host: productcatalog, subset: v1}}]
      fault: {delay: {fixedDelay: 20ms, percentage: {value: 100}}}
""") + gateway_vs("ut", """
    - route: [{destination: {host: cart}}]
      timeout: 100ms
""") + gateway_vs("urx", """
    - route: [{destination: {host: productcatalog, subset: v2}}]
      retries: {attempts: 2, retryOn: 5xx}
""") + gateway_vs("uo", """
    - route: [{destination: {host: cart}}]
""") + """
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: productcatalog, namespace: shop}
spec:
  host: productcatalog
  subsets: [{name: v1, labels: {version: v1}}, {name: v2, labels: {version: v2}}]
---
apiVersion: networking.istio.io/v1
kind: DestinationRule
metadata: {name: cart, namespace: shop}
spec:
  host: cart
  trafficPolicy: {connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}}
"""


def wait_for_series(prometheus_url: str, query: str, deadline_s: float = 20) -> list[dict[str, Any]]:
    deadline = time.monotonic() + deadline_s
    while True:
        result = prom_query(prometheus_url, query)
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.5)


def test_istio_requests_total_carries_response_flags_with_istio_labels(sandbox: Any, mesh: Any) -> None:
    client = mesh(MESH, with_base=False)
    sandbox.set_behaviour("productcatalog", version="v2", error_rate=1.0)
    sandbox.set_behaviour("cart", latency_ms=300)
    assert {r.status for r in client.many(3, "/products", host="fi.test")} == {503}
    assert {r.status for r in client.many(3, "/products", host="di.test")} == {200}
    assert {r.status for r in client.many(2, "/cart", host="ut.test")} == {504}
    assert {r.status for r in client.many(2, "/products", host="urx.test")} == {503}
    assert 503 in {r.status for r in parallel(sandbox.gateway_url, 6, "/cart", host="uo.test")}

    base = 'istio_requests_total{reporter="source",source_workload="istio-ingressgateway",response_flags="%s"}'
    expected = {
        "FI": {"response_code": "503", "destination_workload": "unknown",
               "destination_service": "productcatalog.shop.svc.cluster.local",
               "destination_service_name": "productcatalog", "destination_service_namespace": "shop"},
        "DI": {"response_code": "200", "destination_workload": "productcatalog-v1", "destination_version": "v1"},
        "UT": {"response_code": "504", "destination_workload": "cart-v1", "destination_service_name": "cart"},
        "URX": {"response_code": "503", "destination_workload": "productcatalog-v2", "destination_version": "v2"},
        "UO": {"response_code": "503", "destination_workload": "unknown", "destination_service_name": "cart"},
    }
    for flag, labels in expected.items():
        selector = base % flag
        query = selector[:-1] + "".join(f',{k}="{v}"' for k, v in labels.items()) + "}"
        series = wait_for_series(sandbox.prometheus_url, query)
        assert series, f"no series {query}; found: {prom_query(sandbox.prometheus_url, selector)}"
        metric = series[0]["metric"]
        assert metric["source_workload_namespace"] == "istio-system"
        assert metric["connection_security_policy"] == "unknown"
        assert metric["request_protocol"] == "http"


def test_request_duration_histogram_uses_istios_buckets_and_includes_delays(sandbox: Any, mesh: Any) -> None:
    client = mesh(MESH, with_base=False)
    query = ('sum by (le) (istio_request_duration_milliseconds_bucket{response_flags="DI",'
             'source_workload="istio-ingressgateway"})')

    def buckets() -> dict[str, float]:
        return {s["metric"]["le"]: float(s["value"][1]) for s in prom_query(sandbox.prometheus_url, query)}

    before = buckets().get("+Inf", 0.0)
    client.many(5, "/products", host="di.test")
    deadline = time.monotonic() + 20
    while buckets().get("+Inf", 0.0) < before + 5 and time.monotonic() < deadline:
        time.sleep(0.5)
    now = buckets()
    assert set(now) >= {"0.5", "1", "5", "10", "25", "50", "100", "250", "500", "1000", "3.6e+06", "+Inf"}
    assert now["+Inf"] >= before + 5
    assert now["10"] == 0  # every request was delayed 20 ms, and the delay counts


def test_envoy_cluster_stats_have_istio_names_and_cluster_name_label(sandbox: Any, mesh: Any) -> None:
    mesh(MESH, with_base=False)
    sandbox.set_behaviour("cart", latency_ms=300)
    parallel(sandbox.gateway_url, 6, "/cart", host="uo.test")
    query = ('envoy_cluster_upstream_rq_pending_overflow{pod="istio-ingressgateway",'
             'cluster_name="outbound|8080||cart.shop.svc.cluster.local"}')
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        series = prom_query(sandbox.prometheus_url, query)
        if series and float(series[0]["value"][1]) > 0:
            break
        time.sleep(0.5)
    assert series and float(series[0]["value"][1]) > 0
    assert series[0]["metric"]["pod"] == "istio-ingressgateway"
