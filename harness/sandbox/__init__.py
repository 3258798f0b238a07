"""The embedded mesh sandbox: real Envoy configured as istiod would, real Prometheus, demo services."""

from harness.sandbox._dataplane import PushResult
from harness.sandbox._layout import Layout, Proxy, Replica
from harness.sandbox._sandbox import Sandbox, default_state_dir
from harness.sandbox._topology import DEFAULT_MESH, DEFAULT_TOPOLOGY, Topology, load_topology

__all__ = [
    "DEFAULT_MESH", "DEFAULT_TOPOLOGY", "Layout", "Proxy", "PushResult", "Replica", "Sandbox", "Topology",
    "default_state_dir", "load_topology",
]
