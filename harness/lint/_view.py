"""The mesh as one experiment's fault phase will see it: the live objects, the experiment's policies laid over
them (a policy replaces the live object of the same kind, namespace and name, as the run applies it), and each
fault merged into its VirtualService exactly as ``harness run`` merges it (harness/istio/_merge.py).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from harness._yamlsource import SourceDocument
from harness.errors import ExperimentError, Location, MeshConfigError
from harness.experiment import Experiment, Fault, LoadedExperiment
from harness.istio import (
    CLUSTER_DOMAIN,
    Caller,
    DestinationRule,
    Gateway,
    IstioObject,
    LoadedResource,
    RouteChoice,
    VirtualService,
    choose_route,
    destination_rule_for,
    parse_istio_object,
    resolve_host,
    virtual_services_for,
)
from harness.istio._merge import merge_fault, new_virtual_service_spec
from harness.lint._traffic import CallGraph, Chain, Hop, assumed_graph, chains, request_mix, topology_graph
from harness.mesh import LiveMesh, MemoryBackend, MeshObject, find_virtual_service

LINT_RUN_ID = "lint"  # stands in for the run id in the merged fault routes (and in the tagged cohort's header)
DEFAULT_GATEWAY_LABELS = {"istio": "ingressgateway"}  # Istio's default ingress gateway's pod labels
Key = tuple[str, str, str]


@dataclass(frozen=True)
class FaultTarget:
    """Where one fault goes: its VirtualService before the run, or why preflight would refuse it."""

    index: int
    fault: Fault
    host: str                                  # FQDN
    original: VirtualService | None = None
    created: bool = False                      # createVirtualService: the run creates one
    refusal: str | None = None


@dataclass(frozen=True)
class MeshView:
    namespace: str
    virtual_services: tuple[VirtualService, ...]   # fault phase: live + policies + the faults merged
    destination_rules: tuple[DestinationRule, ...]
    gateways: tuple[Gateway, ...]
    sidecars: tuple[MeshObject, ...]
    service_entry_hosts: frozenset[str]
    live: LiveMesh | None
    graph: CallGraph
    targets: tuple[FaultTarget, ...]
    policies: Mapping[Key, SourceDocument] = field(default_factory=dict)
    request_host: str | None = None                # the load's Host header (target.host); None: any
    chains: tuple[Chain, ...] = ()
    notes: tuple[str, ...] = ()

    def fqdn(self, service: str) -> str:
        return resolve_host(service, self.namespace)

    def service_of(self, fqdn: str) -> str:
        """The short name of a service in this namespace; other hosts keep their FQDN."""
        suffix = f".{self.namespace}.{CLUSTER_DOMAIN}"
        return fqdn[: -len(suffix)] if fqdn.endswith(suffix) else fqdn

    def virtual_services_of(self, hop: Hop, caller: Caller | None = None) -> list[VirtualService]:
        """The VirtualServices the caller applies to the hop's call (a gateway: to the load's Host header)."""
        caller = caller or hop.caller
        return virtual_services_for(self.virtual_services, self._host(hop, caller), caller)

    def route(self, hop: Hop, caller: Caller | None = None) -> RouteChoice | None:
        """The route ``caller`` (default: the hop's) picks for the hop's call; None when none matches (404)."""
        caller = caller or hop.caller
        found = self.virtual_services_of(hop, caller)
        return choose_route(found[0] if found else None, caller, self._host(hop, caller), hop.path)

    def _host(self, hop: Hop, caller: Caller) -> str:
        # the gateway routes by the load's Host header (any host when target.host is not set), sidecars by service
        if caller.is_gateway:
            return self.request_host or "*"
        return self.fqdn(hop.service)

    def destination_rule(self, fqdn: str) -> DestinationRule | None:
        return destination_rule_for(self.destination_rules, fqdn)

    def chains_to(self, service: str) -> list[Chain]:
        return [c for c in self.chains if c.last.service == service]

    def policy_location(self, kind: str, namespace: str, name: str, path: Sequence[str | int] = ()) -> Location | None:
        """Where a policy object (or one of its fields) is written, when the experiment brings it."""
        source = self.policies.get((kind, namespace, name))
        return source.locate(tuple(path) or ("metadata", "name")) if source else None


def build_view(loaded: LoadedExperiment, live: LiveMesh | None, policies: Sequence[LoadedResource], *,
               topology: Any = None) -> MeshView:
    """The fault phase's mesh for one experiment (``topology``: the sandbox's, for its call graph)."""
    exp = loaded.experiment
    namespace = exp.target.namespace
    raw: dict[str, dict[Key, MeshObject]] = {kind: {} for kind in ("VirtualService", "DestinationRule", "Gateway",
                                                                   "Sidecar", "ServiceEntry")}
    for kind, objects in raw.items():
        for obj in live.of_kind(kind) if live else ():
            objects[_key(obj)] = obj
    sources: dict[Key, SourceDocument] = {}
    for policy in policies:  # a policy replaces the live object of the same key, as apply_policy does
        raw[policy.obj.kind][policy.obj.key] = policy.raw
        sources[policy.obj.key] = policy.source
    notes: list[str] = []
    targets, raw["VirtualService"] = _merge_faults(exp.faults, namespace, raw["VirtualService"])
    typed = {kind: _parsed(objects.values(), notes) for kind, objects in raw.items() if kind in _TYPED}
    view = MeshView(
        namespace=namespace,
        virtual_services=tuple(o for o in typed["VirtualService"] if isinstance(o, VirtualService)),
        destination_rules=tuple(o for o in typed["DestinationRule"] if isinstance(o, DestinationRule)),
        gateways=tuple(o for o in typed["Gateway"] if isinstance(o, Gateway)),
        sidecars=tuple(raw["Sidecar"].values()),
        service_entry_hosts=frozenset(h for se in raw["ServiceEntry"].values()
                                      for h in (se.get("spec") or {}).get("hosts") or []),
        live=live, graph=_placeholder_graph(namespace), targets=tuple(targets), policies=sources,
        request_host=exp.target.host)
    graph, graph_notes = _graph(view, loaded, topology)
    view = replace(view, graph=graph)
    return replace(view, chains=tuple(chains(graph, lambda path: _entry(view, path))),
                   notes=tuple(notes + graph_notes))


_TYPED = ("VirtualService", "DestinationRule", "Gateway")


def _key(obj: MeshObject) -> Key:
    meta = obj.get("metadata") or {}
    return (str(obj.get("kind")), meta.get("namespace", "default"), meta.get("name", ""))


def _parsed(objects: Iterable[MeshObject], notes: list[str]) -> list[IstioObject]:
    parsed = []
    for obj in objects:
        try:
            parsed.append(parse_istio_object(dict(obj)))
        except MeshConfigError as exc:
            kind, namespace, name = _key(obj)
            notes.append(f"{kind} {namespace}/{name} was not read ({exc.message}); checks involving it are skipped")
    return parsed


def _merge_faults(faults: Sequence[Fault], namespace: str, objects: Mapping[Key, MeshObject]
                  ) -> tuple[list[FaultTarget], dict[Key, MeshObject]]:
    """Merge each fault as the run would: where each goes, and the VirtualServices as during the fault phase."""
    backend = MemoryBackend([copy.deepcopy(o) for o in objects.values()])
    targets = []
    for index, fault in enumerate(faults):
        host = resolve_host(fault.host, namespace)
        try:
            found = find_virtual_service(backend, fault, namespace)  # type: ignore[arg-type]
            original = parse_istio_object(found) if found else None
            if found is None:
                backend.create_object({"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                                       "metadata": {"name": f"{host.split('.')[0]}-chaos", "namespace": namespace},
                                       "spec": new_virtual_service_spec(fault.host, fault, LINT_RUN_ID)})
            else:
                backend.replace_object({**found, "spec": merge_fault(found["spec"], fault, LINT_RUN_ID)})
        except (ExperimentError, MeshConfigError) as exc:
            targets.append(FaultTarget(index, fault, host, refusal=exc.message))
            continue
        targets.append(FaultTarget(index, fault, host, original if isinstance(original, VirtualService) else None,
                                   created=found is None))
    return targets, {_key(o): o for o in backend.list_objects("VirtualService", None)}


def gateway_caller(view: MeshView, labels: Mapping[str, str], name: str = "ingress gateway") -> Caller:
    """The ingress gateway as a caller: its gateway set is every Gateway whose selector matches its pod labels."""
    refs = frozenset(f"{g.metadata.namespace}/{g.metadata.name}" for g in view.gateways
                     if all(labels.get(k) == v for k, v in g.spec.selector.items()))
    return Caller(name, dict(labels), refs)


def _entry(view: MeshView, path: str) -> list[tuple[str, float]]:
    """The services the gateway sends a request for ``path`` to, with their shares (route weights)."""
    route = view.route(Hop(view.graph.gateway, "", path))
    if route is None or route.virtual_service is None:
        return []
    return [(view.service_of(d.host), d.share) for d in route.destinations]


def _placeholder_graph(namespace: str) -> CallGraph:
    return CallGraph(namespace, {}, (), Caller("ingress gateway", DEFAULT_GATEWAY_LABELS, frozenset()), False)


def _graph(view: MeshView, loaded: LoadedExperiment, topology: Any) -> tuple[CallGraph, list[str]]:
    """The sandbox topology's call graph when it describes this namespace, else an assumed one (said so)."""
    exp = loaded.experiment
    notes = []
    mix = request_mix(exp)
    if mix is None:
        mix = (("/", 1.0),)
        notes.append(f"the request mix of load profile {exp.load.locustfile or exp.load.profile!r} is not known: "
                     "every request is assumed to take the path '/'")
    if topology is not None and topology.namespace == view.namespace:
        graph = topology_graph(topology, mix)
        return replace(graph, gateway=gateway_caller(view, graph.gateway.labels, graph.gateway.name)), notes
    graph, assumption = _assumed(view, exp, mix)
    return graph, notes + ([assumption] if assumption else [])


def _assumed(view: MeshView, exp: Experiment, mix: tuple[tuple[str, float], ...]) -> tuple[CallGraph, str | None]:
    gateway = gateway_caller(view, DEFAULT_GATEWAY_LABELS)
    entries = _entry(replace(view, graph=replace(view.graph, gateway=gateway)), "/")
    entry = entries[0][0] if entries else None
    targets: dict[str, str | None] = {}   # service -> the app that calls it (a fault's sourceLabels)
    labels: dict[str, Mapping[str, str]] = {}
    for fault in exp.faults:
        caller = fault.scope.source_labels.get("app")
        targets[view.service_of(view.fqdn(fault.host))] = caller
        if caller:
            labels[caller] = dict(fault.scope.source_labels)
    for failure in exp.failures:
        targets.setdefault(failure.service, None)
    for h in exp.hypotheses:
        if h.service:
            targets.setdefault(view.service_of(view.fqdn(h.service)), None)
    graph = assumed_graph(view.namespace, entry, targets, labels, mix, gateway)
    if entry is None:
        return graph, None  # no gateway route: no chain at all, which lint says on its own
    return graph, (f"the call graph is not known outside the sandbox: each request is assumed to reach "
                   f"{', '.join(sorted(targets))} through {entry} (the gateway's destination), called by a "
                   "fault's scope.sourceLabels app where it names one")
