"""Istio's names: FQDN resolution, cluster names, listener and route-config names."""

from __future__ import annotations

CLUSTER_DOMAIN = "svc.cluster.local"

GATEWAY_MESH = "mesh"


def resolve_host(host: str, namespace: str) -> str:
    """Istio resolves only dot-less short names, relative to the resource's namespace."""
    if host == "*" or "." in host:
        return host
    return f"{host}.{namespace}.{CLUSTER_DOMAIN}"


def cluster_name(port: int, subset: str | None, fqdn: str) -> str:
    """``outbound|PORT|SUBSET|FQDN``, as ``model.BuildSubsetKey`` builds it."""
    return f"outbound|{port}|{subset or ''}|{fqdn}"


def short_name(fqdn: str) -> str:
    return fqdn.split(".", 1)[0]


def namespace_of(fqdn: str) -> str:
    parts = fqdn.split(".")
    return parts[1] if len(parts) > 2 and fqdn.endswith(CLUSTER_DOMAIN) else "unknown"


def gateway_ref(name: str, namespace: str) -> str:
    """A VirtualService's ``gateways`` entry as ``ns/name`` (a bare name is in the VS's namespace)."""
    if name == GATEWAY_MESH or "/" in name:
        return name
    return f"{namespace}/{name}"


def sidecar_domains(service: str, namespace: str, port: int) -> list[str]:
    """The host names a sidecar accepts for a service, as Istio generates them (with and without port)."""
    names = [f"{service}.{namespace}.{CLUSTER_DOMAIN}", service, f"{service}.{namespace}", f"{service}.{namespace}.svc"]
    return [d for name in names for d in (name, f"{name}:{port}")]
