"""Istio/Envoy behaviour the harness relies on, pinned against the real sandbox.

Each test states the mesh it needs (full set of Istio objects) and the replica behaviour, then
checks what a client sees and what Envoy counted. Facts: shared/reference/istio-envoy-semantics.md.
"""

from __future__ import annotations

import time
import urllib.request
from collections import Counter
from typing import Any

import pytest

from tests.conftest import docs, parallel
from tests.sandbox.meshes import BASE, CATALOG, GATEWAY, ClusterStats, catalog_route, catalog_rule, shop_route

pytestmark = pytest.mark.sandbox

def test_delay_is_not_cut_by_the_same_routes_timeout(sandbox: Any, mesh: Any) -> None:
    client = mesh(catalog_route("""
    - route: [{destination: {host: productcatalog}}]
      timeout: 300ms
      fault: {delay: {fixedDelay: 800ms, percentage: {value: 100}}}
"""))
    stats = ClusterStats(sandbox)
    replies = client.many(3, "/products", host="catalog.test")
    assert [r.status for r in replies] == [200, 200, 200]
    assert all(r.seconds >= 0.78 for r in replies)
    assert stats.delta("upstream_rq_timeout") == 0


def test_delay_is_cut_by_the_callers_timeout_on_the_previous_hop(sandbox: Any, mesh: Any) -> None:
    client = mesh(with_base=False, text=GATEWAY + shop_route(", timeout: 400ms") + """
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: productcatalog, namespace: shop}
spec:
  hosts: [productcatalog]
  http: [{route: [{destination: {host: productcatalog}}], fault: {delay: {fixedDelay: 1s, percentage: {value: 100}}}}]
""")
    reply = client.get("/", host="shop.test")
    assert reply.status == 504
    assert 0.35 <= reply.seconds < 0.9
    assert reply.body == b"upstream request timeout"


def test_injected_aborts_are_neither_retried_nor_counted_by_outlier_detection(sandbox: Any, mesh: Any) -> None:
    client = mesh(catalog_route("""
    - route: [{destination: {host: productcatalog}}]
      retries: {attempts: 3, retryOn: "5xx,gateway-error,503"}
      fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
""") + catalog_rule("""
    outlierDetection: {consecutive5xxErrors: 1, interval: 1s, baseEjectionTime: 30s, maxEjectionPercent: 100}
"""))
    stats = ClusterStats(sandbox)
    served_before = sum(r["requests"] for r in sandbox.behaviour() if r["service"] == "productcatalog")
    replies = client.many(20, "/products", host="catalog.test")
    assert {r.status for r in replies} == {503}
    assert {r.body for r in replies} == {b"fault filter abort"}
    assert stats.delta("upstream_rq_retry") == 0
    assert stats.delta("outlier_detection.ejections_detected_consecutive_5xx") == 0
    served_after = sum(r["requests"] for r in sandbox.behaviour() if r["service"] == "productcatalog")
    assert served_after == served_before  # the request never left the proxy


def test_retries_on_5xx_mask_a_failing_replica(sandbox: Any, mesh: Any) -> None:
    client = mesh(catalog_route("""
    - route: [{destination: {host: productcatalog}}]
      retries: {attempts: 2, retryOn: 5xx}
"""))
    sandbox.set_behaviour("productcatalog", version="v2", error_rate=1.0)
    stats = ClusterStats(sandbox)
    replies = client.many(60, "/products", host="catalog.test")
    assert {r.status for r in replies} == {200}
    assert stats.delta("upstream_rq_retry_success") >= 1


def test_default_retry_policy_does_not_mask_an_application_503(sandbox: Any, mesh: Any) -> None:
    client = mesh(catalog_route("""
    - route: [{destination: {host: productcatalog}}]
"""))
    sandbox.set_behaviour("productcatalog", version="v2", error_rate=1.0)
    statuses = Counter(r.status for r in client.many(60, "/products", host="catalog.test"))
    assert statuses[503] >= 5  # Istio >= 1.24: no retriable_status_codes by default


def _eject_run(sandbox: Any, mesh: Any, max_ejection: str) -> tuple[int, int]:
    client = mesh(catalog_route("""
    - route: [{destination: {host: productcatalog}}]
      retries: {attempts: 0}
""") + catalog_rule(f"""
    outlierDetection: {{consecutive5xxErrors: 3, interval: 1s, baseEjectionTime: 30s{max_ejection}}}
"""))
    sandbox.set_behaviour("productcatalog", version="v2", error_rate=1.0)
    stats = ClusterStats(sandbox)
    client.many(60, "/products", host="catalog.test")
    return (stats.delta("outlier_detection.ejections_enforced_total"),
            stats.delta("outlier_detection.ejections_overflow"))


def test_failing_replica_is_ejected_when_max_ejection_percent_allows(sandbox: Any, mesh: Any) -> None:
    enforced, _ = _eject_run(sandbox, mesh, ", maxEjectionPercent: 34")
    assert enforced >= 1
    with urllib.request.urlopen(f"{sandbox.admin_url}/clusters", timeout=5) as response:
        clusters = response.read().decode()
    v2_port = next(r.port for r in sandbox.layout.replicas if r.name == "productcatalog-v2-0")
    assert f"{CATALOG}::127.0.0.1:{v2_port}::health_flags::/failed_outlier_check" in clusters


def test_default_max_ejection_percent_never_ejects_one_of_three_replicas(sandbox: Any, mesh: Any) -> None:
    enforced, overflow = _eject_run(sandbox, mesh, "")
    assert enforced == 0
    assert overflow >= 1


def test_route_only_change_keeps_ejections(sandbox: Any, mesh: Any) -> None:
    _eject_run(sandbox, mesh, ", maxEjectionPercent: 34")
    objects = sandbox.istio.list()
    vs = next(o for o in objects if o["metadata"]["name"] == "catalog")
    vs["spec"]["http"][0]["timeout"] = "5s"
    sandbox.istio.apply([vs])
    assert sandbox.control.sync_status()["last_changed"] == {"istio-ingressgateway": ["http.80"]}
    assert ClusterStats(sandbox).now("outlier_detection.ejections_active") == 1


def test_per_try_timeout_without_5xx_in_retry_on_is_not_retried(sandbox: Any, mesh: Any) -> None:
    client = mesh(catalog_route("""
    - route: [{destination: {host: productcatalog}}]
      retries: {attempts: 2, perTryTimeout: 200ms, retryOn: connect-failure}
"""))
    sandbox.set_behaviour("productcatalog", latency_ms=600)
    stats = ClusterStats(sandbox)
    reply = client.get("/products", host="catalog.test")
    assert reply.status == 504
    assert 0.18 <= reply.seconds < 0.45
    assert stats.delta("upstream_rq_per_try_timeout") == 1
    assert stats.delta("upstream_rq_retry") == 0


def test_per_try_timeouts_with_5xx_are_retried_until_the_limit(sandbox: Any, mesh: Any) -> None:
    client = mesh(catalog_route("""
    - route: [{destination: {host: productcatalog}}]
      retries: {attempts: 2, perTryTimeout: 150ms, retryOn: 5xx}
"""))
    sandbox.set_behaviour("productcatalog", latency_ms=600)
    stats = ClusterStats(sandbox)
    reply = client.get("/products", host="catalog.test")
    assert reply.status == 504
    assert stats.delta("upstream_rq_per_try_timeout") == 3
    assert stats.delta("upstream_rq_retry_limit_exceeded") == 1


def test_connection_pool_overflow_gives_503_uo(sandbox: Any, mesh: Any) -> None:
    mesh(catalog_route("""
    - route: [{destination: {host: productcatalog}}]
""") + catalog_rule("""
    connectionPool: {tcp: {maxConnections: 1}, http: {http1MaxPendingRequests: 1}}
"""))
    sandbox.set_behaviour("productcatalog", latency_ms=400)
    stats = ClusterStats(sandbox)
    replies = parallel(sandbox.gateway_url, 8, "/products", host="catalog.test")
    statuses = Counter(r.status for r in replies)
    assert statuses[503] >= 4
    assert statuses[200] >= 1
    assert stats.delta("upstream_rq_pending_overflow") == statuses[503]


def test_header_matched_fault_hits_only_tagged_requests(sandbox: Any, mesh: Any) -> None:
    client = mesh(catalog_route("""
    - name: chaos-run-1
      match: [{headers: {x-chaos-run: {exact: run-1}}}]
      route: [{destination: {host: productcatalog}}]
      fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    - name: catalog
      route: [{destination: {host: productcatalog}}]
"""))
    tagged = client.many(20, "/products", host="catalog.test", headers={"x-chaos-run": "run-1"})
    other_run = client.many(10, "/products", host="catalog.test", headers={"x-chaos-run": "run-2"})
    untagged = client.many(20, "/products", host="catalog.test")
    assert {r.status for r in tagged} == {503}
    assert {r.status for r in other_run + untagged} == {200}


def test_weighted_subsets_split_near_their_weights(sandbox: Any, mesh: Any) -> None:
    client = mesh(catalog_route("""
    - route:
        - {destination: {host: productcatalog, subset: v1}, weight: 75}
        - {destination: {host: productcatalog, subset: v2}, weight: 25}
""") + catalog_rule("    {}"))
    versions = Counter(r.json()["version"] for r in client.many(800, "/products", host="catalog.test"))
    assert 0.19 <= versions["v2"] / 800 <= 0.31  # 25% +- ~4.7 standard deviations


def test_source_labels_scope_a_fault_to_one_client_workload(sandbox: Any, mesh: Any) -> None:
    client = mesh("""
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: productcatalog, namespace: shop}
spec:
  hosts: [productcatalog]
  http:
    - name: from-recommendation
      match: [{sourceLabels: {app: recommendation}}]
      route: [{destination: {host: productcatalog}}]
      fault: {abort: {httpStatus: 503, percentage: {value: 100}}}
    - name: everyone-else
      route: [{destination: {host: productcatalog}}]
""")
    for reply in client.many(5, "/", host="shop.test"):
        calls = {c["service"]: c["status"] for c in reply.json()["calls"]}
        assert reply.status == 200
        assert calls["productcatalog"] == 200      # frontend's own call is untouched
        assert calls["recommendation"] == 500      # recommendation's call to productcatalog was aborted


def test_an_invalid_regex_is_refused_by_the_webhook_and_nothing_is_stored(sandbox: Any, mesh: Any) -> None:
    from harness.errors import ConfigRejectedError

    client = mesh(catalog_route("""
    - route: [{destination: {host: productcatalog}}]
"""))
    before = sandbox.istio.list()
    bad = docs(BASE + catalog_route("""
    - match: [{uri: {regex: "(unclosed"}}]
      route: [{destination: {host: productcatalog}}]
"""))
    with pytest.raises(ConfigRejectedError, match='admission webhook "validation.istio.io" denied the request'):
        sandbox.istio.replace_all(bad)
    assert [o["metadata"]["resourceVersion"] for o in sandbox.istio.list()] == [
        o["metadata"]["resourceVersion"] for o in before]
    assert client.get("/products", host="catalog.test").status == 200


def test_a_config_envoy_rejects_is_stored_reported_and_the_old_one_keeps_serving(sandbox: Any, mesh: Any) -> None:
    """As in a cluster: the API accepts it, the proxies NACK it (RE2 has no lookahead), istiod says so in the
    object's status, and the previous config keeps serving."""
    from harness.errors import ConfigRejectedError

    client = mesh(catalog_route("""
    - route: [{destination: {host: productcatalog}}]
"""))
    bad = docs(BASE + catalog_route("""
    - match: [{uri: {regex: "/(?=products)"}}]
      route: [{destination: {host: productcatalog}}]
"""))
    with pytest.raises(ConfigRejectedError, match="rejected by the data plane"):
        sandbox.istio.replace_all(bad)
    catalog = sandbox.istio.get("VirtualService", "shop", "catalog")
    condition = catalog["status"]["conditions"][0]
    assert condition["status"] == "False" and condition["reason"] == "ProxyRejected"
    assert client.get("/products", host="catalog.test").status == 200
    assert any(p["status"] == "NACK" for p in sandbox.control.sync_status()["proxies"])


def test_config_change_is_live_when_the_call_returns(sandbox: Any, mesh: Any) -> None:
    client = mesh(catalog_route("""
    - route: [{destination: {host: productcatalog}}]
"""))
    assert client.get("/products", host="catalog.test").status == 200
    sandbox.istio.replace_all(docs(BASE + catalog_route("""
    - route: [{destination: {host: productcatalog}}]
      fault: {abort: {httpStatus: 418, percentage: {value: 100}}}
""")))
    assert client.get("/products", host="catalog.test").status == 418
    time.sleep(0)  # no wait was needed: the apply confirmed through Envoy's admin
