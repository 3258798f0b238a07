"""Istio networking resources as typed views, and loading them from YAML with located errors."""

from harness.istio._duration import envoy_duration, parse_duration_s
from harness.istio._load import LoadedResource, LoadResult, load_istio, parse_istio_object, yaml_files
from harness.istio._naming import (
    CLUSTER_DOMAIN,
    GATEWAY_MESH,
    cluster_name,
    gateway_ref,
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
    "cluster_name", "envoy_duration", "gateway_ref", "load_istio", "parse_duration_s", "parse_istio_object",
    "resolve_host", "sidecar_domains", "yaml_files",
]
