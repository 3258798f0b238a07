"""Istio Gateway / VirtualService / DestinationRule -> per-proxy Envoy config, as istiod would build it.

Every client workload gets its own proxy (its own clusters, so outlier state is per client, and
its own routes, so ``sourceLabels`` apply per client); gateway-bound VirtualServices go to the
ingress gateway. Problems Istio's validation would reject are errors; things the sandbox cannot
model are warnings that name the resource and field.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from harness.errors import MeshConfigError, Problem
from harness.istio import (
    GATEWAY_MESH,
    DestinationRule,
    Gateway,
    LoadedResource,
    VirtualService,
    gateway_ref,
    resolve_host,
    sidecar_domains,
)
from harness.sandbox._clusters import service_clusters
from harness.sandbox._layout import Layout, Proxy
from harness.sandbox._routes import (
    RouteContext,
    RouteError,
    default_route,
    is_catch_all,
    translate_http_routes,
)
from harness.sandbox._topology import Topology

HTTP_PROTOCOLS = frozenset({"HTTP", "HTTP2", "GRPC"})


@dataclass(frozen=True)
class ListenerSpec:
    name: str
    mesh_port: int
    local_port: int
    route_config: str
    stat_prefix: str
    is_gateway: bool


@dataclass(frozen=True)
class ProxyConfig:
    """The Envoy resources one proxy serves."""

    proxy: Proxy
    listeners: list[ListenerSpec]
    routes: dict[str, dict[str, Any]]
    clusters: list[dict[str, Any]]


@dataclass
class Translation:
    configs: dict[str, ProxyConfig] = field(default_factory=dict)
    warnings: list[Problem] = field(default_factory=list)


def gateway_ports(topology: Topology, resources: list[LoadedResource]) -> set[int]:
    """The server ports of the Gateways that select the sandbox's ingress gateway."""
    return {s.port.number for g in _gateways(topology, resources) for s in g.obj.spec.servers}


def translate(topology: Topology, layout: Layout, resources: list[LoadedResource]) -> Translation:
    """Build every proxy's config; raise MeshConfigError for config Istio would reject."""
    result = Translation()
    errors: list[Problem] = []
    clusters = _clusters(topology, layout, resources, result.warnings)
    _check_destinations(topology, resources, clusters, result.warnings)
    for proxy in layout.proxies:
        if proxy.kind == "gateway":
            listeners, routes = _gateway_routes(topology, proxy, resources, result.warnings, errors)
        else:
            listeners, routes = _sidecar_routes(topology, proxy, resources, result.warnings, errors)
        result.configs[proxy.name] = ProxyConfig(proxy, listeners, routes, clusters)
    if errors:
        raise MeshConfigError("Istio configuration rejected", _unique(errors))
    result.warnings = _unique(result.warnings)
    return result


def _unique(problems: list[Problem]) -> list[Problem]:
    return list(dict.fromkeys(problems))


def _of_kind(resources: list[LoadedResource], kind: type) -> list[LoadedResource]:
    return [r for r in resources if isinstance(r.obj, kind)]


def _service_port(topology: Topology, fqdn: str) -> int | None:
    for service in topology.services:
        if topology.fqdn(service.name) == fqdn:
            return service.port
    return None


def _clusters(
    topology: Topology, layout: Layout, resources: list[LoadedResource], warnings: list[Problem]
) -> list[dict[str, Any]]:
    rules: dict[str, LoadedResource] = {}
    for loaded in _of_kind(resources, DestinationRule):
        rule = loaded.obj
        assert isinstance(rule, DestinationRule)
        fqdn = resolve_host(rule.spec.host, rule.metadata.namespace)
        if fqdn in rules:
            warnings.append(loaded.source.problem(("spec", "host"), f"{fqdn} already has {rules[fqdn].obj.ref}; "
                                                  "this rule is ignored"))
        elif _service_port(topology, fqdn) is None:
            warnings.append(loaded.source.problem(("spec", "host"), f"{fqdn} is not a service of the topology"))
        else:
            rules[fqdn] = loaded
    clusters: list[dict[str, Any]] = []
    for service in topology.services:
        fqdn = topology.fqdn(service.name)
        rule = rules[fqdn].obj if fqdn in rules else None
        assert rule is None or isinstance(rule, DestinationRule)
        clusters += service_clusters(fqdn, service.name, topology.namespace, service.port,
                                     layout.replicas_of(service.name), rule)
    return clusters


def _check_destinations(
    topology: Topology, resources: list[LoadedResource], clusters: list[dict[str, Any]], warnings: list[Problem]
) -> None:
    """Warn about destinations that would give 503 NC (no such cluster) at run time."""
    names = {c["name"] for c in clusters}
    for loaded in _of_kind(resources, VirtualService):
        vs = loaded.obj
        assert isinstance(vs, VirtualService)
        for i, route in enumerate(vs.spec.http):
            for j, dest in enumerate(route.route):
                fqdn = resolve_host(dest.destination.host, vs.metadata.namespace)
                port = _service_port(topology, fqdn)
                where = ("spec", "http", i, "route", j, "destination")
                if port is None:
                    warnings.append(loaded.source.problem(where + ("host",),
                                                          f"{fqdn} is not a service of the topology (503 NC)"))
                elif dest.destination.subset and f"outbound|{port}|{dest.destination.subset}|{fqdn}" not in names:
                    warnings.append(loaded.source.problem(where + ("subset",), f"subset {dest.destination.subset!r} "
                                                          f"is not defined by a DestinationRule for {fqdn} (503 NC)"))


def _gateways(topology: Topology, resources: list[LoadedResource]) -> list[LoadedResource]:
    labels = topology.gateway.labels
    selected = []
    for loaded in _of_kind(resources, Gateway):
        gw = loaded.obj
        assert isinstance(gw, Gateway)
        if all(labels.get(k) == v for k, v in gw.spec.selector.items()):
            selected.append(loaded)
    return selected


def _host_matches(server_host: str, vs_host: str) -> str | None:
    """The domain a gateway vhost gets when a VS host meets a server host, or None."""
    server_host = server_host.split("/", 1)[1] if "/" in server_host else server_host
    if server_host == "*" or server_host == vs_host:
        return vs_host
    if vs_host == "*":
        return server_host
    if server_host.startswith("*.") and vs_host.endswith(server_host[1:]):
        return vs_host
    return None


def _gateway_routes(
    topology: Topology, proxy: Proxy, resources: list[LoadedResource],
    warnings: list[Problem], errors: list[Problem],
) -> tuple[list[ListenerSpec], dict[str, dict[str, Any]]]:
    servers_by_port: dict[int, list[tuple[str, str]]] = {}  # port -> [(gateway ref, server host)]
    for loaded in _gateways(topology, resources):
        gw = loaded.obj
        ref = f"{gw.metadata.namespace}/{gw.metadata.name}"
        for i, server in enumerate(gw.spec.servers):  # type: ignore[attr-defined]
            if server.port.protocol.upper() not in HTTP_PROTOCOLS:
                warnings.append(loaded.source.problem(("spec", "servers", i, "port", "protocol"),
                                                      f"{server.port.protocol} servers are not modelled; ignored"))
                continue
            if server.port.number not in proxy.listener_ports:
                warnings.append(loaded.source.problem(("spec", "servers", i, "port", "number"),
                                                      "this port was not open when the sandbox started; restart it"))
                continue
            servers_by_port.setdefault(server.port.number, []).extend((ref, h) for h in server.hosts)
    listeners, routes = [], {}
    for port, local_port in sorted(proxy.listener_ports.items()):
        name = f"http.{port}"
        vhosts = _gateway_vhosts(port, servers_by_port.get(port, []), resources, topology, proxy, errors)
        routes[name] = _route_config(name, vhosts, gateway=True)
        listeners.append(ListenerSpec(f"0.0.0.0_{port}", port, local_port, name, f"outbound_0.0.0.0_{port}", True))
    return listeners, routes


def _gateway_vhosts(
    port: int, servers: list[tuple[str, str]], resources: list[LoadedResource], topology: Topology,
    proxy: Proxy, errors: list[Problem],
) -> list[dict[str, Any]]:
    by_domain: dict[str, list[dict[str, Any]]] = {}
    gateway_refs = {ref for ref, _ in servers}
    for loaded in _of_kind(resources, VirtualService):
        vs = loaded.obj
        assert isinstance(vs, VirtualService)
        bound = {gateway_ref(g, vs.metadata.namespace) for g in vs.spec.gateways} & gateway_refs
        if not bound:
            continue
        for host in vs.spec.hosts:
            domains = {d for ref, h in servers if ref in bound for d in [_host_matches(h, host)] if d}
            for domain in sorted(domains):
                ctx = RouteContext(vs.metadata.namespace, port, proxy.labels, frozenset(bound),
                                   lambda fqdn: _service_port(topology, fqdn))
                by_domain.setdefault(domain, []).extend(_vs_routes(loaded, ctx, errors))
    if not by_domain:  # Istio's placeholder: every request gets 404 NR
        return [{"name": f"blackhole:{port}", "domains": ["*"], "routes": []}]
    vhosts = []
    for domain, vhost_routes in sorted(by_domain.items()):
        # merged VirtualServices: catch-all routes go last (route.go SortVHostRoutes)
        ordered = [r for r in vhost_routes if not is_catch_all(r["match"])] + [
            r for r in vhost_routes if is_catch_all(r["match"])]
        vhosts.append({"name": f"{domain}:{port}", "domains": [domain], "routes": ordered,
                       "include_request_attempt_count": True})
    return vhosts


def _vs_routes(loaded: LoadedResource, ctx: RouteContext, errors: list[Problem]) -> list[dict[str, Any]]:
    vs = loaded.obj
    assert isinstance(vs, VirtualService)
    try:
        return translate_http_routes(vs.spec.http, ctx)
    except RouteError as exc:
        errors.append(loaded.source.problem(("spec", "http") + exc.field, str(exc)))
        return []


def _sidecar_routes(
    topology: Topology, proxy: Proxy, resources: list[LoadedResource],
    warnings: list[Problem], errors: list[Problem],
) -> tuple[list[ListenerSpec], dict[str, dict[str, Any]]]:
    mesh_vs: dict[str, LoadedResource] = {}
    for loaded in _of_kind(resources, VirtualService):
        vs = loaded.obj
        assert isinstance(vs, VirtualService)
        if vs.spec.gateways and GATEWAY_MESH not in vs.spec.gateways:
            continue
        for i, host in enumerate(vs.spec.hosts):
            fqdn = resolve_host(host, vs.metadata.namespace)
            if fqdn in mesh_vs and mesh_vs[fqdn] is not loaded:
                warnings.append(loaded.source.problem(("spec", "hosts", i), f"{fqdn} is already routed by "
                                                      f"{mesh_vs[fqdn].obj.ref}; Istio uses the older one"))
                continue
            if _service_port(topology, fqdn) is None:
                warnings.append(loaded.source.problem(("spec", "hosts", i), f"{fqdn} is not a service of the "
                                                      "topology; sidecars get no route for it"))
                continue
            mesh_vs[fqdn] = loaded
    listeners, routes = [], {}
    for port, local_port in sorted(proxy.listener_ports.items()):
        vhosts = []
        for service in (s for s in topology.services if s.port == port):
            fqdn = topology.fqdn(service.name)
            vhost_routes: list[dict[str, Any]] = []
            if fqdn in mesh_vs:
                loaded = mesh_vs[fqdn]
                ctx = RouteContext(loaded.obj.metadata.namespace, port, proxy.labels, frozenset({GATEWAY_MESH}),
                                   lambda f: _service_port(topology, f))
                vhost_routes = _vs_routes(loaded, ctx, errors)
            if not vhost_routes:  # no VS, or none of its routes applies to this proxy
                vhost_routes = [default_route(f"outbound|{port}||{fqdn}")]
            vhosts.append({"name": f"{fqdn}:{port}", "domains": sidecar_domains(service.name, topology.namespace, port),
                           "routes": vhost_routes, "include_request_attempt_count": True})
        name = str(port)
        routes[name] = _route_config(name, vhosts, gateway=False)
        listeners.append(ListenerSpec(f"0.0.0.0_{port}", port, local_port, name, f"outbound_0.0.0.0_{port}", False))
    return listeners, routes


def _route_config(name: str, vhosts: list[dict[str, Any]], *, gateway: bool) -> dict[str, Any]:
    config: dict[str, Any] = {
        "@type": "type.googleapis.com/envoy.config.route.v3.RouteConfiguration",
        "name": name, "virtual_hosts": vhosts, "validate_clusters": False,
    }
    if gateway:
        config["ignore_port_in_host_matching"] = True
    return config
