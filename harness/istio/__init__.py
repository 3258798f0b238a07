"""Istio networking resources as typed views, and loading them from YAML with located errors."""

from harness.istio._duration import envoy_duration, parse_duration_s
from harness.istio._load import LoadedResource, LoadResult, load_istio, parse_istio_object, yaml_files
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
    "API_GROUP", "API_VERSIONS", "DestinationRule", "Gateway", "HTTPRoute", "IstioObject", "LoadResult",
    "LoadedResource", "OutlierDetection", "TrafficPolicy", "VirtualService", "envoy_duration", "load_istio",
    "parse_duration_s", "parse_istio_object", "yaml_files",
]
