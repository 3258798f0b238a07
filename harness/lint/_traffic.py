"""Who calls whom, for how much of the load: the call chains from the ingress gateway down to each service.

On the sandbox the call graph is the topology's (each endpoint's calls). Outside it the harness cannot see
call graphs, so ``assumed_graph`` lets the gateway's destination call the experiment's services directly (or
through the workload a fault's ``scope.sourceLabels`` names) and says so among the notes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.experiment import Experiment
from harness.istio import Caller

# loadprofiles/shop.py: @task weights of home, product and cart (tests/lint/test_traffic.py keeps them equal)
SHOP_REQUESTS = (("/", 5.0), ("/product/1", 3.0), ("/cart", 1.0))
MAX_DEPTH = 8  # a call graph with a cycle still ends


@dataclass(frozen=True)
class Call:
    service: str
    path: str = "/"
    optional: bool = False           # the caller answers without it (the demo services do for optional calls)
    app_timeout_s: float | None = None


@dataclass(frozen=True)
class Workload:
    service: str
    versions: tuple[tuple[Mapping[str, str], int], ...]  # (pod labels of one version, replicas)
    endpoints: tuple[tuple[str, tuple[Call, ...]], ...]

    def calls_for(self, path: str) -> tuple[Call, ...]:
        """The calls of the endpoint with the longest matching path prefix (as the demo services route)."""
        best = max((p for p, _ in self.endpoints if path.startswith(p)), key=len, default=None)
        return next((calls for p, calls in self.endpoints if p == best), ())


@dataclass(frozen=True)
class CallGraph:
    namespace: str
    workloads: Mapping[str, Workload]
    requests: tuple[tuple[str, float], ...]            # the load's request paths and weights
    gateway: Caller
    known: bool                                        # the sandbox topology's; False: assumed


@dataclass(frozen=True)
class Hop:
    caller: Caller           # the proxy making the call: the gateway, or a workload's sidecar
    service: str             # the callee's short name
    path: str
    optional: bool = False
    app_timeout_s: float | None = None


@dataclass(frozen=True)
class Chain:
    """One call chain from the gateway: the load's request it serves and its share of all requests."""

    request: str
    share: float
    hops: tuple[Hop, ...]

    @property
    def last(self) -> Hop:
        return self.hops[-1]


Entry = Callable[[str], list[tuple[str, float]]]  # request path -> [(service, share)] the gateway routes it to


def chains(graph: CallGraph, entry: Entry) -> list[Chain]:
    """Every call chain the load makes: one per hop, from the gateway down to that hop."""
    total = sum(weight for _, weight in graph.requests) or 1.0
    found: list[Chain] = []
    for path, weight in graph.requests:
        for service, share in entry(path):
            first = Hop(graph.gateway, service, path)
            _descend(graph, Chain(path, weight / total * share, (first,)), found)
    return found


def _descend(graph: CallGraph, chain: Chain, found: list[Chain]) -> None:
    found.append(chain)
    workload = graph.workloads.get(chain.last.service)
    if workload is None or len(chain.hops) >= MAX_DEPTH:
        return
    replicas = sum(n for _, n in workload.versions) or 1
    for labels, count in workload.versions:
        caller = Caller(f"{workload.service}-{labels['version']}" if "version" in labels else workload.service, labels)
        for call in workload.calls_for(chain.last.path):
            hop = Hop(caller, call.service, call.path, call.optional, call.app_timeout_s)
            _descend(graph, Chain(chain.request, chain.share * count / replicas, chain.hops + (hop,)), found)


def request_mix(exp: Experiment) -> tuple[tuple[str, float], ...] | None:
    """The load's request paths and weights; None when the profile's mix is not known (a custom locustfile)."""
    if exp.load.requests:
        return tuple((r.path, float(r.weight)) for r in exp.load.requests)
    if exp.load.profile == "shop" and not exp.load.locustfile:
        return SHOP_REQUESTS
    return None


def topology_graph(topology: Any, requests: Iterable[tuple[str, float]]) -> CallGraph:
    """The sandbox's call graph (a harness.sandbox.Topology): services, versions, replicas and endpoint calls."""
    workloads = {}
    for service in topology.services:
        endpoints = tuple((e.path, tuple(Call(c.service, c.path, c.optional, c.timeout_ms / 1000) for c in e.calls))
                          for e in service.endpoints)
        versions = tuple(({"app": service.name, "version": v.name}, v.replicas) for v in service.versions)
        workloads[service.name] = Workload(service.name, versions, endpoints)
    gateway = topology.gateway
    return CallGraph(topology.namespace, workloads, tuple(requests), Caller(gateway.name, dict(gateway.labels)), True)


def assumed_graph(namespace: str, entry: str | None, targets: Mapping[str, str | None],
                  labels: Mapping[str, Mapping[str, str]], requests: Iterable[tuple[str, float]],
                  gateway: Caller) -> CallGraph:
    """Each request reaches every target through ``entry`` (the gateway's destination); a target with a caller
    named (``targets[service]``: a fault's sourceLabels app) is called by that workload, which ``entry`` calls.
    ``labels`` are each caller's pod labels (a fault's sourceLabels, so the fault's route selects it)."""
    calls: dict[str, list[Call]] = {}
    for service, caller in targets.items():
        if caller and caller != service:
            calls.setdefault(caller, []).append(Call(service))
            if entry and caller != entry:
                calls.setdefault(entry, []).append(Call(caller))
        elif entry and service != entry:
            calls.setdefault(entry, []).append(Call(service))
    names = set(calls) | {c.service for cs in calls.values() for c in cs} | ({entry} if entry else set())
    workloads = {name: Workload(name, ((labels.get(name) or {"app": name}, 1),),
                                (("/", tuple(dict.fromkeys(calls.get(name, ())))),)) for name in names}
    return CallGraph(namespace, workloads, tuple(requests), gateway, False)
