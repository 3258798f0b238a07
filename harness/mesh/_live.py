"""What decides where a fault lands, read once from the live mesh: Istio config, namespace labels, pods,
endpoints, Services and Gateway API HTTPRoutes.

``read_live`` turns one namespace into a ``LiveMesh`` snapshot of frozen views. What it could not read (a 403
under the namespaced Role of deploy/rbac.yaml, which grants no Namespaces; an API the cluster does not serve) is
listed in ``unread`` with the reason, so lint says which checks it skipped instead of guessing.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar, cast

from harness.errors import BackendError, ForbiddenError, NotFoundError
from harness.mesh._backend import KINDS, MeshObject, list_widely
from harness.mesh._kubernetes_backend import KubernetesBackend, translate_errors
from harness.mesh._memory_backend import MemoryBackend

# Istio's injector marks an injected pod with this annotation (pkg/kube/inject, annotation.SidecarStatus)
SIDECAR_STATUS = "sidecar.istio.io/status"
SIDECAR_CONTAINER = "istio-proxy"
GATEWAY_API_GROUP = "gateway.networking.k8s.io"
GATEWAY_API_VERSIONS = ("v1", "v1beta1")
T = TypeVar("T")


class LiveReader(Protocol):
    """Read-only access to one cluster; every call maps onto one ``kubectl get``."""

    def list_objects(self, kind: str, namespace: str | None) -> list[MeshObject]: ...

    def namespace_labels(self, namespace: str) -> dict[str, str]: ...

    def list_pods(self, namespace: str) -> list[MeshObject]: ...

    def list_endpoints(self, namespace: str) -> list[MeshObject]: ...

    def list_services(self, namespace: str) -> list[MeshObject]: ...

    def list_http_routes(self, namespace: str) -> list[MeshObject]:
        """gateway.networking.k8s.io HTTPRoutes; NotFoundError when the cluster does not serve that API."""
        ...


@dataclass(frozen=True)
class PodView:
    name: str
    labels: Mapping[str, str]
    has_sidecar: bool
    ready: bool = True


@dataclass(frozen=True)
class HTTPRouteView:
    """A Gateway API HTTPRoute: the hostnames it claims and the Services it is attached to or routes to."""

    namespace: str
    name: str
    hostnames: tuple[str, ...]
    services: tuple[str, ...]   # short names: parentRefs of kind Service (mesh routing) and backendRefs

    @property
    def ref(self) -> str:
        return f"HTTPRoute {self.namespace}/{self.name}"


@dataclass(frozen=True)
class LiveMesh:
    """One namespace as the mesh sees it. A part that could not be read is None, and ``unread`` says why."""

    namespace: str
    objects: Mapping[str, tuple[MeshObject, ...]]
    cluster_wide: bool = True
    namespace_labels: Mapping[str, str] | None = None
    pods: tuple[PodView, ...] | None = None
    endpoints: Mapping[str, tuple[PodView, ...]] | None = None
    service_labels: Mapping[str, Mapping[str, str]] | None = None
    http_routes: tuple[HTTPRouteView, ...] | None = None
    unread: tuple[str, ...] = ()

    def of_kind(self, kind: str) -> tuple[MeshObject, ...]:
        return self.objects.get(kind, ())

    def endpoint_count(self, service: str, labels: Mapping[str, str]) -> int | None:
        """Ready endpoints of ``service`` whose pods carry ``labels``; None when that cannot be known."""
        if self.endpoints is None or service not in self.endpoints:
            return None
        pods = self.endpoints[service]
        if labels and any(not pod.labels for pod in pods):
            return None  # the pods behind the addresses were not readable: subsets cannot be told apart
        return sum(all(pod.labels.get(k) == v for k, v in labels.items()) for pod in pods)

    def pods_matching(self, labels: Mapping[str, str]) -> list[PodView] | None:
        if self.pods is None:
            return None
        return [p for p in self.pods if all(p.labels.get(k) == v for k, v in labels.items())]


def read_live(reader: LiveReader, namespace: str) -> LiveMesh:
    """Read what lint needs about ``namespace`` (Istio config from every namespace the credentials may list)."""
    unread: list[str] = []
    objects: dict[str, tuple[MeshObject, ...]] = {}
    cluster_wide = True
    for kind in KINDS:
        try:  # list_widely only lists: any LiveReader will do
            found, wide = list_widely(reader, kind, namespace)  # type: ignore[arg-type]
        except BackendError as exc:
            unread.append(f"{kind}s ({_reason(exc)})")
            continue
        objects[kind] = tuple(found)
        cluster_wide = cluster_wide and wide
    labels = _attempt(lambda: reader.namespace_labels(namespace), f"the labels of namespace {namespace}", unread)
    raw_pods = _attempt(lambda: reader.list_pods(namespace), f"pods in {namespace}", unread)
    pods = tuple(pod_view(p) for p in raw_pods) if raw_pods is not None else None
    raw_endpoints = _attempt(lambda: reader.list_endpoints(namespace), f"endpoints in {namespace}", unread)
    endpoints = (endpoints_by_service(raw_endpoints, {p.name: p for p in pods or ()})
                 if raw_endpoints is not None else None)
    services = _attempt(lambda: reader.list_services(namespace), f"services in {namespace}", unread)
    service_labels = ({s["metadata"]["name"]: dict(s["metadata"].get("labels") or {}) for s in services}
                      if services is not None else None)
    return LiveMesh(namespace, objects, cluster_wide, labels, pods, endpoints, service_labels,
                    _http_routes(reader, namespace, unread), tuple(unread))


def _http_routes(reader: LiveReader, namespace: str, unread: list[str]) -> tuple[HTTPRouteView, ...] | None:
    try:
        routes = reader.list_http_routes(namespace)
    except NotFoundError:
        return ()  # the Gateway API is not installed: no HTTPRoute can claim a host
    except BackendError as exc:
        unread.append(f"HTTPRoutes in {namespace} ({_reason(exc)})")
        return None
    return tuple(http_route_view(r) for r in routes)


def _attempt(read: Callable[[], T], what: str, unread: list[str]) -> T | None:
    # a 403 or an unreachable API is "unknown", not a crash: lint says which checks it could not make
    try:
        return read()
    except BackendError as exc:
        unread.append(f"{what} ({_reason(exc)})")
        return None


def _reason(exc: BackendError) -> str:
    return "not permitted" if isinstance(exc, ForbiddenError) else exc.message


def pod_view(pod: Mapping[str, Any]) -> PodView:
    """A Pod's labels and whether it runs an Istio sidecar (the injected container or the injector's mark)."""
    meta = pod.get("metadata") or {}
    containers = {c.get("name") for c in (pod.get("spec") or {}).get("containers") or []}
    has_sidecar = SIDECAR_CONTAINER in containers or SIDECAR_STATUS in (meta.get("annotations") or {})
    ready = (pod.get("status") or {}).get("phase", "Running") == "Running"
    return PodView(meta.get("name", ""), dict(meta.get("labels") or {}), has_sidecar, ready)


def endpoints_by_service(endpoints: Iterable[Mapping[str, Any]], pods: Mapping[str, PodView]
                         ) -> dict[str, tuple[PodView, ...]]:
    """Ready addresses per Service, each as the pod behind it (its labels decide the DestinationRule subset)."""
    found: dict[str, tuple[PodView, ...]] = {}
    for item in endpoints:
        views = []
        for subset in item.get("subsets") or []:
            for address in subset.get("addresses") or []:  # notReadyAddresses get no traffic
                name = (address.get("targetRef") or {}).get("name", "")
                views.append(pods.get(name, PodView(name or address.get("ip", ""), {}, True)))
        found[item["metadata"]["name"]] = tuple(views)
    return found


def http_route_view(route: Mapping[str, Any]) -> HTTPRouteView:
    meta: Mapping[str, Any] = route.get("metadata") or {}
    spec: Mapping[str, Any] = route.get("spec") or {}
    parents = [p.get("name", "") for p in spec.get("parentRefs") or [] if p.get("kind") == "Service"]
    backends = [b.get("name", "") for rule in spec.get("rules") or [] for b in rule.get("backendRefs") or []
                if b.get("kind", "Service") == "Service"]
    return HTTPRouteView(meta.get("namespace", "default"), meta.get("name", ""), tuple(spec.get("hostnames") or ()),
                         tuple(dict.fromkeys(parents + backends)))


class KubernetesLiveReader:
    """A LiveReader over a KubernetesBackend's connection (clusters and the sandbox alike)."""

    def __init__(self, backend: KubernetesBackend) -> None:
        from kubernetes import client

        self._backend = backend
        self._core = client.CoreV1Api(backend.api_client)
        self._custom = client.CustomObjectsApi(backend.api_client)
        self._timeout = 10.0

    def list_objects(self, kind: str, namespace: str | None) -> list[MeshObject]:
        return self._backend.list_objects(kind, namespace)

    @translate_errors
    def namespace_labels(self, namespace: str) -> dict[str, str]:
        answer = self._core.read_namespace(namespace, _request_timeout=self._timeout)
        return dict((answer.metadata.labels if answer.metadata else None) or {})

    @translate_errors
    def list_pods(self, namespace: str) -> list[MeshObject]:
        return self._plain(self._core.list_namespaced_pod(namespace, _request_timeout=self._timeout).items)

    @translate_errors
    def list_endpoints(self, namespace: str) -> list[MeshObject]:
        return self._plain(self._core.list_namespaced_endpoints(namespace, _request_timeout=self._timeout).items)

    @translate_errors
    def list_services(self, namespace: str) -> list[MeshObject]:
        return self._plain(self._core.list_namespaced_service(namespace, _request_timeout=self._timeout).items)

    def list_http_routes(self, namespace: str) -> list[MeshObject]:
        for version in GATEWAY_API_VERSIONS:
            try:
                return self._list_custom(GATEWAY_API_GROUP, version, namespace, "httproutes")
            except NotFoundError:
                continue
        raise NotFoundError(f"the cluster does not serve {GATEWAY_API_GROUP} HTTPRoutes")

    @translate_errors
    def _list_custom(self, group: str, version: str, namespace: str, plural: str) -> list[MeshObject]:
        answer = cast(dict[str, Any], self._custom.list_namespaced_custom_object(  # the client types it "object"
            group, version, namespace, plural, _request_timeout=self._timeout))
        return list(answer.get("items", []))

    def _plain(self, items: list[Any]) -> list[MeshObject]:
        # the client's typed models -> the API's own JSON (camelCase), as every other object here
        return [self._backend.api_client.sanitize_for_serialization(item) for item in items]


class MemoryLiveReader(MemoryBackend):
    """An in-memory LiveReader: tests, and offline lint against the sandbox's demo mesh."""

    def __init__(self, objects: Iterable[MeshObject] = (), *, namespaces: Mapping[str, Mapping[str, str]] | None = None,
                 pods: Iterable[MeshObject] = (), endpoints: Iterable[MeshObject] = (),
                 services: Iterable[MeshObject] = (), http_routes: Iterable[MeshObject] | None = None) -> None:
        super().__init__()
        for obj in objects:
            self.create_object(obj)
        self._namespaces = {k: dict(v) for k, v in (namespaces or {}).items()}
        self._pods, self._endpoints, self._services = list(pods), list(endpoints), list(services)
        self._routes = None if http_routes is None else list(http_routes)

    def namespace_labels(self, namespace: str) -> dict[str, str]:
        if namespace not in self._namespaces:
            raise NotFoundError(f"namespace {namespace} not found")
        return dict(self._namespaces[namespace])

    def list_pods(self, namespace: str) -> list[MeshObject]:
        return _in(self._pods, namespace)

    def list_endpoints(self, namespace: str) -> list[MeshObject]:
        return _in(self._endpoints, namespace)

    def list_services(self, namespace: str) -> list[MeshObject]:
        return _in(self._services, namespace)

    def list_http_routes(self, namespace: str) -> list[MeshObject]:
        if self._routes is None:
            raise NotFoundError(f"{GATEWAY_API_GROUP} is not served")
        return _in(self._routes, namespace)


def _in(objects: list[MeshObject], namespace: str) -> list[MeshObject]:
    return [copy.deepcopy(o) for o in objects if o["metadata"].get("namespace", "default") == namespace]


def pod_object(name: str, namespace: str, labels: Mapping[str, str], *, sidecar: bool = True) -> MeshObject:
    """A minimal Pod as the API returns it (for the offline demo mesh and tests)."""
    containers = [{"name": "app"}] + ([{"name": SIDECAR_CONTAINER}] if sidecar else [])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace,
            "labels": dict(labels)}, "spec": {"containers": containers}, "status": {"phase": "Running"}}


def endpoints_object(service: str, namespace: str, pod_names: Iterable[str]) -> MeshObject:
    """A minimal v1 Endpoints whose ready addresses point at the named pods."""
    addresses = [{"ip": f"10.0.0.{i + 1}", "targetRef": {"kind": "Pod", "name": n}} for i, n in enumerate(pod_names)]
    return {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": service, "namespace": namespace},
            "subsets": [{"addresses": addresses}] if addresses else []}


def service_object(name: str, namespace: str, labels: Mapping[str, str] | None = None) -> MeshObject:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels or {"app": name})}}
