"""Metrics: a PromQL catalogue for Istio standard metrics and Envoy stats, queried into numbers."""

from harness.metrics._catalogue import (
    MeshSelector,
    duration_buckets,
    envoy_cluster_stat,
    requests,
    server_errors,
    with_flag,
)
from harness.metrics._prometheus import Prometheus, SentQuery, Window, escape_label, selector

__all__ = [
    "MeshSelector", "Prometheus", "SentQuery", "Window", "duration_buckets", "envoy_cluster_stat", "escape_label",
    "requests", "selector", "server_errors", "with_flag",
]
