"""The sandbox topology: demo services, their versions and replicas, who calls whom, and how they behave."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from pydantic.alias_generators import to_camel

from harness._yamlsource import load_yaml_file, validation_problems
from harness.errors import MeshConfigError, Problem
from harness.istio import CLUSTER_DOMAIN

DEMO_DIR = Path(__file__).parent / "demo"
DEFAULT_TOPOLOGY = DEMO_DIR / "topology.yaml"
DEFAULT_MESH = DEMO_DIR / "istio"


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="forbid")


class Behaviour(_Model):
    """How a replica answers: extra latency and a share of errors (real upstream failures)."""

    latency_ms: float = Field(default=0.0, ge=0)
    error_rate: float = Field(default=0.0, ge=0, le=1)
    error_status: int = Field(default=503, ge=400, le=599)

    def merged(self, override: Behaviour | None) -> Behaviour:
        if override is None:
            return self
        return self.model_copy(update=override.model_dump(exclude_unset=True))


class Call(_Model):
    """A downstream call made while serving an endpoint, through the caller's sidecar."""

    service: str
    path: str = "/"
    optional: bool = False
    timeout_ms: float = Field(default=30_000, gt=0)


class Endpoint(_Model):
    path: str = Field(pattern=r"^/")
    calls: list[Call] = Field(default_factory=list)


class Version(_Model):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    replicas: int = Field(default=1, ge=1, le=20)
    behaviour: Behaviour | None = None


class Service(_Model):
    name: str = Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
    port: int = Field(default=8080, ge=1, le=65535)
    versions: list[Version] = Field(default_factory=lambda: [Version(name="v1")], min_length=1)
    endpoints: list[Endpoint] = Field(default_factory=lambda: [Endpoint(path="/")])
    behaviour: Behaviour = Field(default_factory=Behaviour)


class GatewayWorkload(_Model):
    name: str = "istio-ingressgateway"
    namespace: str = "istio-system"
    labels: dict[str, str] = Field(default_factory=lambda: {"istio": "ingressgateway", "app": "istio-ingressgateway"})


class Topology(_Model):
    api_version: Literal["harness/v1"] = Field(alias="apiVersion")
    kind: Literal["Topology"]
    namespace: str = "default"
    gateway: GatewayWorkload = Field(default_factory=GatewayWorkload)
    proxy_concurrency: int = Field(default=1, ge=1, le=8)
    services: list[Service] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Topology:
        names = [s.name for s in self.services]
        duplicates = {n for n in names if names.count(n) > 1}
        if duplicates:
            raise ValueError(f"service names must be unique: {', '.join(sorted(duplicates))}")
        for service in self.services:
            for endpoint in service.endpoints:
                for call in endpoint.calls:
                    if call.service not in names:
                        raise ValueError(
                            f"service {service.name!r} calls unknown service {call.service!r} "
                            f"(known: {', '.join(names)})"
                        )
        return self

    def service(self, name: str) -> Service:
        for service in self.services:
            if service.name == name:
                return service
        raise KeyError(name)

    def fqdn(self, name: str) -> str:
        return f"{name}.{self.namespace}.{CLUSTER_DOMAIN}"

    def callers(self) -> list[tuple[Service, Version]]:
        """Workloads that make outbound calls: each gets its own sidecar proxy."""
        return [(s, v) for s in self.services for v in s.versions if any(e.calls for e in s.endpoints)]


def load_topology(path: Path | None = None) -> Topology:
    """Read and validate a topology file; errors name file, line and field."""
    path = path or DEFAULT_TOPOLOGY
    documents = load_yaml_file(path, MeshConfigError)
    if len(documents) != 1:
        raise MeshConfigError(f"{path}: expected exactly one Topology document, found {len(documents)}", [])
    doc = documents[0]
    try:
        return Topology.model_validate(doc.data)
    except ValidationError as exc:
        problems: list[Problem] = validation_problems(doc, exc)
        raise MeshConfigError(f"{path}: invalid topology", problems) from None
