"""Where every part of a sandbox lives: replicas, proxies and the ports they use on loopback."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from harness._net import free_ports
from harness.sandbox._topology import Topology


@dataclass(frozen=True)
class Replica:
    """One pod of a demo service: it listens on its own loopback port."""

    service: str
    version: str
    index: int
    port: int

    @property
    def name(self) -> str:
        return f"{self.service}-{self.version}-{self.index}"

    @property
    def workload(self) -> str:
        return f"{self.service}-{self.version}"

    @property
    def labels(self) -> dict[str, str]:
        return {"app": self.service, "version": self.version}


@dataclass(frozen=True)
class Proxy:
    """One Envoy: the ingress gateway, or the outbound sidecar of one client workload."""

    name: str
    kind: Literal["gateway", "sidecar"]
    namespace: str
    workload: str
    app: str
    version: str
    labels: dict[str, str]
    admin_port: int
    listener_ports: dict[int, int] = field(default_factory=dict)  # mesh port -> loopback port

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"


@dataclass(frozen=True)
class Layout:
    namespace: str
    replicas: list[Replica]
    proxies: list[Proxy]
    control_port: int
    telemetry_port: int
    prometheus_port: int

    @property
    def gateway(self) -> Proxy:
        return next(p for p in self.proxies if p.kind == "gateway")

    def proxy(self, name: str) -> Proxy:
        return next(p for p in self.proxies if p.name == name)

    def sidecar_for(self, service: str, version: str) -> Proxy | None:
        return next((p for p in self.proxies if p.kind == "sidecar" and p.workload == f"{service}-{version}"), None)

    def replicas_of(self, service: str) -> list[Replica]:
        return [r for r in self.replicas if r.service == service]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Layout:
        proxies = [
            Proxy(**{**p, "listener_ports": {int(k): v for k, v in p["listener_ports"].items()}})
            for p in data["proxies"]
        ]
        return cls(data["namespace"], [Replica(**r) for r in data["replicas"]], proxies,
                   data["control_port"], data["telemetry_port"], data["prometheus_port"])


def plan_layout(topology: Topology, gateway_ports: set[int]) -> Layout:
    """Give every replica, proxy listener and server a free loopback port."""
    gateway_ports = gateway_ports or {80}
    callers = topology.callers()
    service_ports = sorted({s.port for s in topology.services})
    replica_count = sum(v.replicas for s in topology.services for v in s.versions)
    needed = replica_count + 1 + len(gateway_ports) + len(callers) * (1 + len(service_ports)) + 3
    ports = iter(free_ports(needed))
    replicas = [
        Replica(s.name, v.name, i, next(ports)) for s in topology.services for v in s.versions for i in range(v.replicas)
    ]
    gw = topology.gateway
    proxies = [Proxy(gw.name, "gateway", gw.namespace, gw.name, gw.labels.get("app", gw.name), "",
                     dict(gw.labels), next(ports), {p: next(ports) for p in sorted(gateway_ports)})]
    for service, version in callers:
        proxies.append(Proxy(f"{service.name}-{version.name}", "sidecar", topology.namespace,
                             f"{service.name}-{version.name}", service.name, version.name,
                             {"app": service.name, "version": version.name}, next(ports),
                             {p: next(ports) for p in service_ports}))
    return Layout(topology.namespace, replicas, proxies, next(ports), next(ports), next(ports))
