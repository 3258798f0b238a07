"""DestinationRules -> Envoy clusters, with Istio's defaults (pilot ``cluster_traffic_policy.go``).

See ``shared/reference/istio-envoy-semantics.md`` §B for each rule and its source.
"""

from __future__ import annotations

from typing import Any

from harness.istio import DestinationRule, cluster_name, envoy_duration, parse_duration_s
from harness.istio._resources import ConnectionPool, LoadBalancer, OutlierDetection, TrafficPolicy
from harness.sandbox._layout import Replica

UNLIMITED = 4294967295  # Istio writes this for every unset circuit-breaker threshold
MESH_CONNECT_TIMEOUT = "10s"
HTTP_OPTIONS_KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
LB_POLICIES = {None: "LEAST_REQUEST", "UNSPECIFIED": "LEAST_REQUEST", "LEAST_REQUEST": "LEAST_REQUEST",
               "LEAST_CONN": "LEAST_REQUEST", "ROUND_ROBIN": "ROUND_ROBIN", "RANDOM": "RANDOM"}


def service_clusters(
    fqdn: str, service: str, namespace: str, port: int, replicas: list[Replica], rule: DestinationRule | None
) -> list[dict[str, Any]]:
    """The default cluster of a service port plus one cluster per DestinationRule subset."""
    top = _port_policy(rule.spec.traffic_policy if rule else None, port)
    clusters = [_cluster(cluster_name(port, None, fqdn), fqdn, service, namespace, replicas, top)]
    for subset in rule.spec.subsets if rule else []:
        chosen = [r for r in replicas if all(r.labels.get(k) == v for k, v in subset.labels.items())]
        policy = _merge(top, _port_policy(subset.traffic_policy, port))
        clusters.append(_cluster(cluster_name(port, subset.name, fqdn), fqdn, service, namespace, chosen, policy))
    return clusters


def _port_policy(policy: TrafficPolicy | None, port: int) -> TrafficPolicy | None:
    """Port-level settings replace the whole top-level policy; nothing is inherited (``GetPortLevelTrafficPolicy``)."""
    if policy is None:
        return None
    for level in policy.port_level_settings:
        if level.port is not None and level.port.number == port:
            return TrafficPolicy(load_balancer=level.load_balancer, connection_pool=level.connection_pool,
                                 outlier_detection=level.outlier_detection)
    return policy


def _merge(base: TrafficPolicy | None, subset: TrafficPolicy | None) -> TrafficPolicy | None:
    """A subset's block replaces the rule's block component by component (``MergeTrafficPolicy``)."""
    if subset is None:
        return base
    if base is None:
        return subset
    return TrafficPolicy(
        load_balancer=subset.load_balancer or base.load_balancer,
        connection_pool=subset.connection_pool or base.connection_pool,
        outlier_detection=subset.outlier_detection or base.outlier_detection,
    )


def _cluster(
    name: str, fqdn: str, service: str, namespace: str, replicas: list[Replica], policy: TrafficPolicy | None
) -> dict[str, Any]:
    pool = policy.connection_pool if policy else None
    balancer = policy.load_balancer if policy else None
    outlier = policy.outlier_detection if policy else None
    cluster: dict[str, Any] = {
        "name": name,
        # Istio's alt_stat_name + its stats tags give Prometheus the label cluster_name="outbound|..."
        "alt_stat_name": f"{name};",
        "type": "STATIC",
        "connect_timeout": _connect_timeout(pool),
        "lb_policy": _lb_policy(balancer),
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [
            {"endpoint": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": r.port}}}}
            for r in replicas]}]},
        "circuit_breakers": {"thresholds": [_thresholds(pool)]},
        "metadata": {"filter_metadata": {"istio": {"services": [
            {"host": fqdn, "name": service, "namespace": namespace}]}}},
    }
    options = _http_options(pool)
    if options:
        cluster["typed_extension_protocol_options"] = {HTTP_OPTIONS_KEY: options}
    if outlier is not None:
        cluster["outlier_detection"] = outlier_detection(outlier)
        # minHealthPercent unset -> 0: panic mode off once outlier detection is configured
        cluster["common_lb_config"] = {"healthy_panic_threshold": {"value": float(outlier.min_health_percent or 0)}}
    return cluster


def _connect_timeout(pool: ConnectionPool | None) -> str:
    if pool and pool.tcp and pool.tcp.connect_timeout:
        return envoy_duration(parse_duration_s(pool.tcp.connect_timeout))
    return MESH_CONNECT_TIMEOUT


def _lb_policy(balancer: LoadBalancer | None) -> str:
    simple = balancer.simple if balancer else None
    return LB_POLICIES.get(simple, "LEAST_REQUEST")


def _thresholds(pool: ConnectionPool | None) -> dict[str, Any]:
    """Zero or unset values mean "unlimited" (Istio cannot tell them apart)."""
    tcp = pool.tcp if pool else None
    http = pool.http if pool else None
    return {
        "max_connections": (tcp.max_connections if tcp else None) or UNLIMITED,
        "max_pending_requests": (http.http1_max_pending_requests if http else None) or UNLIMITED,
        "max_requests": (http.http2_max_requests if http else None) or UNLIMITED,
        "max_retries": (http.max_retries if http else None) or UNLIMITED,
        "track_remaining": False,
    }


def _http_options(pool: ConnectionPool | None) -> dict[str, Any] | None:
    http = pool.http if pool else None
    if http is None or not (http.max_requests_per_connection or http.idle_timeout):
        return None
    common: dict[str, Any] = {}
    if http.max_requests_per_connection:
        common["max_requests_per_connection"] = http.max_requests_per_connection
    if http.idle_timeout:
        common["idle_timeout"] = envoy_duration(parse_duration_s(http.idle_timeout))
    return {"@type": f"type.googleapis.com/{HTTP_OPTIONS_KEY}", "common_http_protocol_options": common,
            "explicit_http_config": {"http_protocol_options": {}}}


def outlier_detection(od: OutlierDetection) -> dict[str, Any]:
    """``applyOutlierDetection``: success-rate ejection off, enforcing 100 for every set consecutive limit."""
    out: dict[str, Any] = {"enforcing_success_rate": 0}
    if od.consecutive_5xx_errors is not None:
        out["consecutive_5xx"] = od.consecutive_5xx_errors
        out["enforcing_consecutive_5xx"] = 100 if od.consecutive_5xx_errors > 0 else 0
    if od.consecutive_gateway_errors is not None:
        out["consecutive_gateway_failure"] = od.consecutive_gateway_errors
        out["enforcing_consecutive_gateway_failure"] = 100 if od.consecutive_gateway_errors > 0 else 0
    if od.interval:
        out["interval"] = envoy_duration(parse_duration_s(od.interval))
    if od.base_ejection_time:
        out["base_ejection_time"] = envoy_duration(parse_duration_s(od.base_ejection_time))
    if od.max_ejection_percent:
        out["max_ejection_percent"] = od.max_ejection_percent
    if od.split_external_local_origin_errors:
        out["split_external_local_origin_errors"] = True
        out["enforcing_local_origin_success_rate"] = 0
        if od.consecutive_local_origin_failures:
            out["consecutive_local_origin_failure"] = od.consecutive_local_origin_failures
            out["enforcing_consecutive_local_origin_failure"] = 100
    return out
