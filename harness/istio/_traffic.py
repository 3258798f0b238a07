"""What the predictor assumes about the workloads: replicas and their behaviour, who calls whom, the load mix.

On the sandbox all of it comes from the topology file (``from_topology``). On a cluster the harness
cannot see call graphs, so ``direct_traffic`` assumes every request of the load makes one call to the
fault's host through the ingress gateway, and says so among the prediction's assumptions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

SHOP_REQUESTS = (("/", 5.0), ("/product/1", 3.0), ("/cart", 1.0))  # loadprofiles/shop.py task weights


@dataclass(frozen=True)
class Replica:
    name: str
    labels: Mapping[str, str]
    latency_s: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503


@dataclass(frozen=True)
class CallSpec:
    service: str
    path: str = "/"
    optional: bool = False
    timeout_s: float | None = None  # the application's own client timeout (the sandbox's default is 30 s)


@dataclass(frozen=True)
class ServiceModel:
    name: str
    replicas: tuple[Replica, ...]
    endpoints: tuple[tuple[str, tuple[CallSpec, ...]], ...] = (("/", ()),)

    def calls_for(self, path: str) -> tuple[CallSpec, ...]:
        """The calls of the endpoint with the longest matching path prefix (as the demo services route)."""
        best = max((p for p, _ in self.endpoints if path.startswith(p)), key=len, default=None)
        return next((calls for p, calls in self.endpoints if p == best), ())


@dataclass(frozen=True)
class Traffic:
    """The workloads in one namespace and the request mix the load sends through the gateway."""

    namespace: str
    services: Mapping[str, ServiceModel]
    requests: tuple[tuple[str, float], ...]
    gateway_labels: Mapping[str, str] = field(default_factory=lambda: {"istio": "ingressgateway"})
    assumptions: tuple[str, ...] = ()

    def with_failures(self, failures: Iterable[Any]) -> Traffic:
        """The same workloads with the experiment's real upstream failures applied (fault phase)."""
        services = dict(self.services)
        for failure in failures:
            model = services.get(failure.service)
            if model is None:
                continue
            replicas = tuple(_failed(r, failure, i) for i, r in enumerate(_versioned(model.replicas, failure)))
            services[failure.service] = replace(model, replicas=_merge_back(model.replicas, replicas))
        return replace(self, services=services)


def _versioned(replicas: tuple[Replica, ...], failure: Any) -> tuple[Replica, ...]:
    return tuple(r for r in replicas if failure.version is None or r.labels.get("version") == failure.version)


def _failed(replica: Replica, failure: Any, index: int) -> Replica:
    if failure.replica is not None and failure.replica != index:
        return replica
    return replace(replica,
                   latency_s=replica.latency_s if failure.latency_ms is None else failure.latency_ms / 1000,
                   error_rate=replica.error_rate if failure.error_rate is None else failure.error_rate,
                   error_status=failure.error_status or replica.error_status)


def _merge_back(original: tuple[Replica, ...], changed: tuple[Replica, ...]) -> tuple[Replica, ...]:
    by_name = {r.name: r for r in changed}
    return tuple(by_name.get(r.name, r) for r in original)


def from_topology(topology: Any, requests: Iterable[tuple[str, float]] = SHOP_REQUESTS) -> Traffic:
    """The sandbox's services (harness.sandbox.Topology) as the predictor's model."""
    services = {}
    for service in topology.services:
        replicas = tuple(
            Replica(f"{service.name}-{version.name}-{index}", {"app": service.name, "version": version.name},
                    *_behaviour(service.behaviour.merged(version.behaviour)))
            for version in service.versions for index in range(version.replicas))
        endpoints = tuple((e.path, tuple(CallSpec(c.service, c.path, c.optional, c.timeout_ms / 1000)
                                         for c in e.calls)) for e in service.endpoints)
        services[service.name] = ServiceModel(service.name, replicas, endpoints)
    return Traffic(topology.namespace, services, tuple(requests), dict(topology.gateway.labels))


def _behaviour(behaviour: Any) -> tuple[float, float, int]:
    return behaviour.latency_ms / 1000, behaviour.error_rate, behaviour.error_status


def direct_traffic(namespace: str, entry: str, replicas: Mapping[str, Iterable[Mapping[str, str]]]) -> Traffic:
    """A cluster's view: each request reaches ``entry`` and stops there; replicas from the live endpoints."""
    services = {name: ServiceModel(name, tuple(Replica(f"{name}-{i}", dict(labels)) for i, labels in
                                               enumerate(pods))) for name, pods in replicas.items()}
    return Traffic(namespace, services, (("/", 1.0),), assumptions=(
        f"the call graph is unknown outside the sandbox: each request is assumed to make one call to {entry}, "
        "with healthy replicas except the experiment's failures",))
