"""Chaos experiments for Istio service meshes.

Faults go into VirtualServices, Locust drives load through the ingress gateway, and Prometheus
metrics decide whether timeouts, retries and outlier detection behaved as hypothesised.
"""

__version__ = "0.1.0"
