"""Istio networking resources as typed views, and loading them from YAML with located errors."""

from harness.istio._duration import envoy_duration, parse_duration_s
from harness.istio._hop import (
    Caller,
    Destination,
    FaultEffect,
    Outlier,
    Retry,
    RouteChoice,
    bound_gateways,
    choose_route,
    cluster_outlier,
    destination_rule_for,
    fault_of,
    host_matches,
    istio_fraction,
    istio_ppm,
    outlier_of,
    retry_of,
    routes_host,
    subset_labels,
    virtual_services_for,
)
from harness.istio._load import LoadedResource, LoadResult, load_istio, parse_istio_object, yaml_files
from harness.istio._naming import (
    CLUSTER_DOMAIN,
    GATEWAY_MESH,
    cluster_name,
    gateway_ref,
    namespace_of,
    resolve_host,
    sidecar_domains,
)
from harness.istio._resources import (
    API_GROUP,
    API_VERSIONS,
    DestinationRule,
    Gateway,
    HTTPRoute,
    IstioObject,
    OutlierDetection,
    TrafficPolicy,
    VirtualService,
)

__all__ = [
    "API_GROUP", "API_VERSIONS", "CLUSTER_DOMAIN", "DestinationRule", "GATEWAY_MESH", "Gateway", "HTTPRoute",
    "IstioObject", "LoadResult", "LoadedResource", "OutlierDetection", "TrafficPolicy", "VirtualService",
    "cluster_name", "envoy_duration", "gateway_ref", "load_istio", "namespace_of", "parse_duration_s",
    "parse_istio_object", "resolve_host", "sidecar_domains", "yaml_files",
    # what one proxy does with one call (_hop.py)
    "Caller", "Destination", "FaultEffect", "Outlier", "Retry", "RouteChoice", "bound_gateways", "choose_route",
    "cluster_outlier", "destination_rule_for", "fault_of", "host_matches", "istio_fraction", "istio_ppm",
    "outlier_of", "retry_of", "routes_host", "subset_labels", "virtual_services_for",
]
