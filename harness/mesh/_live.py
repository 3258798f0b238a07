"""The live objects the linter and the predictor read: Istio config, namespace labels, pods, endpoints, HTTPRoutes.

``LiveReader`` is read-only and small on purpose: every call maps onto one ``kubectl get`` (namespaces,
pods, endpoints, ``gateway.networking.k8s.io`` HTTPRoutes) besides the Istio kinds that ``MeshBackend``
already lists. ``read_live`` turns those answers into a ``LiveMesh`` snapshot of plain, frozen views.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.errors import BackendError, NotFoundError
from harness.mesh._backend import MeshObject
from harness.mesh._memory_backend import MemoryBackend

ISTIO_KINDS = ("VirtualService", "DestinationRule", "Gateway", "Sidecar", "ServiceEntry")
# Kubernetes marks an injected pod with this annotation (istio/istio: pkg/kube/inject, "sidecar.istio.io/status")
SIDECAR_STATUS = "sidecar.istio.io/status"
SIDECAR_CONTAINER = "istio-proxy"


class LiveReader(Protocol):
    """Read-only access to what decides where a fault lands (one namespace at a time)."""

    def list_objects(self, kind: str, namespace: str | None) -> list[MeshObject]: ...

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        """``metadata.labels`` of the Namespace (``{}`` when it has none); NotFoundError when it does not exist."""
        ...

    def list_pods(self, namespace: str) -> list[MeshObject]:
        """v1 Pods as JSON (metadata.labels/annotations, spec.containers[].name, status.phase)."""
        ...

    def list_endpoints(self, namespace: str) -> list[MeshObject]:
        """v1 Endpoints as JSON: subsets[].addresses[] with targetRef {kind: Pod, name}."""
        ...

    def list_http_routes(self, namespace: str) -> list[MeshObject]:
        """gateway.networking.k8s.io HTTPRoutes as JSON; ``[]`` when the CRD is not installed."""
        ...


@dataclass(frozen=True)
class PodView:
    name: str
    labels: Mapping[str, str]
    has_sidecar: bool
    ready: bool = True


@dataclass(frozen=True)
class LiveMesh:
    """One namespace as the mesh sees it, read once before linting or predicting."""

    namespace: str
    objects: Mapping[str, tuple[MeshObject, ...]]
    namespace_labels: Mapping[str, str] = field(default_factory=dict)
    pods: tuple[PodView, ...] = ()
    endpoints: Mapping[str, tuple[PodView, ...]] = field(default_factory=dict)  # service -> ready endpoints' pods
    http_routes: tuple[MeshObject, ...] = ()
    known: frozenset[str] = frozenset()  # what was really read: "pods", "endpoints", "namespace", "httproutes"

    def of_kind(self, kind: str) -> tuple[MeshObject, ...]:
        return self.objects.get(kind, ())

    def endpoint_count(self, service: str, subset_labels: Mapping[str, str] | None = None) -> int | None:
        """Ready endpoints of ``service`` whose pod carries ``subset_labels``; None when endpoints are unknown."""
        if "endpoints" not in self.known:
            return None
        wanted = dict(subset_labels or {})
        return sum(all(pod.labels.get(k) == v for k, v in wanted.items())
                   for pod in self.endpoints.get(service, ()))

    def pods_matching(self, labels: Mapping[str, str]) -> list[PodView]:
        return [p for p in self.pods if all(p.labels.get(k) == v for k, v in labels.items())]


def read_live(reader: LiveReader, namespace: str) -> LiveMesh:
    """Read everything lint needs from ``namespace``; parts the reader cannot give are left out of ``known``."""
    objects = {kind: tuple(_try(lambda k=kind: reader.list_objects(k, None), [])) for kind in ISTIO_KINDS}  # type: ignore[misc]
    known: set[str] = set()
    labels = _try(lambda: reader.namespace_labels(namespace), None)
    if labels is not None:
        known.add("namespace")
    raw_pods = _try(lambda: reader.list_pods(namespace), None)
    pods = tuple(pod_view(p) for p in raw_pods or [])
    if raw_pods is not None:
        known.add("pods")
    raw_endpoints = _try(lambda: reader.list_endpoints(namespace), None)
    endpoints = endpoints_by_service(raw_endpoints or [], {p.name: p for p in pods})
    if raw_endpoints is not None:
        known.add("endpoints")
    routes = _try(lambda: reader.list_http_routes(namespace), None)
    if routes is not None:
        known.add("httproutes")
    return LiveMesh(namespace, objects, labels or {}, pods, endpoints, tuple(routes or ()), frozenset(known))


def _try(read: Any, default: Any) -> Any:
    # a 403 or a missing API is "unknown", not a crash: lint says which checks it could not make
    try:
        return read()
    except (BackendError, AttributeError, NotImplementedError):
        return default


def pod_view(pod: Mapping[str, Any]) -> PodView:
    """A Pod's labels and whether it runs an Istio sidecar (injected container or injection status)."""
    meta = pod.get("metadata", {})
    containers = {c.get("name") for c in pod.get("spec", {}).get("containers", [])}
    has_sidecar = SIDECAR_CONTAINER in containers or SIDECAR_STATUS in (meta.get("annotations") or {})
    ready = pod.get("status", {}).get("phase", "Running") == "Running"
    return PodView(meta.get("name", ""), dict(meta.get("labels") or {}), has_sidecar, ready)


def endpoints_by_service(endpoints: Iterable[Mapping[str, Any]], pods: Mapping[str, PodView]
                         ) -> dict[str, tuple[PodView, ...]]:
    """Ready addresses per Service, each as the pod behind it (labels decide the DestinationRule subset)."""
    found: dict[str, tuple[PodView, ...]] = {}
    for item in endpoints:
        views = []
        for subset in item.get("subsets") or []:
            for address in subset.get("addresses") or []:  # notReadyAddresses get no traffic
                ref = address.get("targetRef") or {}
                views.append(pods.get(ref.get("name", ""), PodView(ref.get("name", address.get("ip", "")), {}, True)))
        found[item["metadata"]["name"]] = tuple(views)
    return found


class MemoryLive(MemoryBackend):
    """An in-memory LiveReader (and MeshBackend): tests and offline lint of the demo shop."""

    def __init__(self, objects: list[MeshObject] | None = None, *, namespaces: Mapping[str, Mapping[str, str]]
                 | None = None, pods: Iterable[MeshObject] = (), endpoints: Iterable[MeshObject] = (),
                 http_routes: Iterable[MeshObject] = ()) -> None:
        super().__init__()
        for obj in objects or []:
            self.create_object(obj)
        self._namespaces = {k: dict(v) for k, v in (namespaces or {}).items()}
        self._pods, self._endpoints = list(pods), list(endpoints)
        self._routes = list(http_routes)

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        if namespace not in self._namespaces:
            raise NotFoundError(f"namespace {namespace} not found")
        return dict(self._namespaces[namespace])

    def list_pods(self, namespace: str) -> list[MeshObject]:
        return [copy.deepcopy(p) for p in self._pods if p["metadata"].get("namespace", "default") == namespace]

    def list_endpoints(self, namespace: str) -> list[MeshObject]:
        return [copy.deepcopy(e) for e in self._endpoints if e["metadata"].get("namespace", "default") == namespace]

    def list_http_routes(self, namespace: str) -> list[MeshObject]:
        return [copy.deepcopy(r) for r in self._routes if r["metadata"].get("namespace", "default") == namespace]


def pod(name: str, namespace: str, labels: Mapping[str, str], *, sidecar: bool = True) -> MeshObject:
    """A minimal Pod object (as the API returns it) for tests and the offline demo."""
    containers = [{"name": "app"}] + ([{"name": SIDECAR_CONTAINER}] if sidecar else [])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace,
            "labels": dict(labels)}, "spec": {"containers": containers}, "status": {"phase": "Running"}}


def endpoints(service: str, namespace: str, pod_names: Iterable[str]) -> MeshObject:
    """A minimal v1 Endpoints object whose ready addresses point at the named pods."""
    addresses = [{"ip": f"10.0.0.{i + 1}", "targetRef": {"kind": "Pod", "name": n}} for i, n in enumerate(pod_names)]
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": service, "namespace": namespace},
            "subsets": [{"addresses": addresses}] if addresses else []}
