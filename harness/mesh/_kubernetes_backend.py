"""A cluster through the ``kubernetes`` client: ``networking.istio.io`` custom objects.

This is the one mesh path: real clusters and the sandbox (whose API server is a faithful one) alike.
The API version is the first of v1, v1beta1, v1alpha3 that the server serves. Every write carries
the resourceVersion it read (replace with it in the body, delete with a precondition), so a lost
race is a 409 that becomes ConflictError. Third-party errors are translated here and only here.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any, TypeVar

from harness.errors import ConflictError, ForbiddenError, KubernetesError, NotFoundError, TransientBackendError
from harness.istio import API_GROUP, API_VERSIONS
from harness.mesh._backend import MeshObject
from harness.mesh._kube_config import load_credentials

PLURALS = {"VirtualService": "virtualservices", "DestinationRule": "destinationrules", "Gateway": "gateways",
           "ServiceEntry": "serviceentries", "Sidecar": "sidecars", "Lease": "leases"}
# kinds outside the Istio group, at a fixed version (the custom-objects API is plain REST: any group works)
OTHER_GROUPS = {"Lease": ("coordination.k8s.io", "v1")}
T = TypeVar("T")


def translate_errors(call: Callable[..., T]) -> Callable[..., T]:
    """Map ApiException and transport errors onto the harness's error tree."""
    @functools.wraps(call)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return call(*args, **kwargs)
        except ApiException as exc:
            raise api_error(exc) from None
        except (HTTPError, OSError) as exc:
            raise TransientBackendError(f"Kubernetes API unreachable: {exc}",
                                        hint="check the API server URL in the kubeconfig and that it runs") from None
    return wrapper


def api_error(exc: Any) -> Exception:
    """The harness error for an ``ApiException`` (status code and the Status body's message)."""
    message = _message(exc)
    if exc.status == 409:
        return ConflictError(message)
    if exc.status == 404:
        return NotFoundError(message)
    if exc.status in (429, 500, 502, 503, 504):
        return TransientBackendError(f"Kubernetes API answered {exc.status}: {message}")
    if exc.status == 401:
        return KubernetesError(f"Kubernetes API refused the credentials (401): {message}",
                               hint="the token may have expired or been revoked; refresh the kubeconfig")
    if exc.status == 403:
        return ForbiddenError(f"Kubernetes API refused access (403): {message}",
                               hint="apply deploy/rbac.yaml to the namespace (harness preflight lists what is missing)")
    return KubernetesError(f"Kubernetes API answered {exc.status}: {message}")


def _message(exc: Any) -> str:
    try:
        return str(json.loads(exc.body).get("message", exc.reason))
    except (TypeError, ValueError, AttributeError):
        return str(exc.reason)


class KubernetesBackend:
    name = "kubernetes"

    def __init__(self, *, context: str | None = None, config_file: str | None = None,
                 request_timeout_s: float = 10.0) -> None:
        from kubernetes import client

        credentials = load_credentials(context=context, config_file=config_file)
        self.api_client = credentials.api_client
        self.context = credentials.context  # the effective one: given, current, or "in-cluster"
        self.default_namespace = credentials.default_namespace
        self._api = client.CustomObjectsApi(self.api_client)
        self._timeout = request_timeout_s
        self.version = self._served_version()

    @translate_errors
    def _served_version(self) -> str:
        from kubernetes import client

        groups = client.ApisApi(self.api_client).get_api_versions(_request_timeout=self._timeout).groups
        served = next(([v.version for v in g.versions] for g in groups if g.name == API_GROUP), [])
        for version in API_VERSIONS:
            if version in served:
                return version
        raise KubernetesError(f"the cluster does not serve {API_GROUP} (is Istio installed?)")

    @translate_errors
    def list_objects(self, kind: str, namespace: str | None) -> list[MeshObject]:
        group, version = self._group_version(kind)
        if namespace is None:
            answer = self._api.list_cluster_custom_object(group, version, PLURALS[kind], _request_timeout=self._timeout)
        else:
            answer = self._api.list_namespaced_custom_object(group, version, namespace, PLURALS[kind],
                                                             _request_timeout=self._timeout)
        return [self._typed(kind, item) for item in answer.get("items", [])]

    @translate_errors
    def get_object(self, kind: str, namespace: str, name: str) -> MeshObject:
        return self._typed(kind, self._api.get_namespaced_custom_object(
            *self._group_version(kind), namespace, PLURALS[kind], name, _request_timeout=self._timeout))

    @translate_errors
    def create_object(self, obj: MeshObject) -> MeshObject:
        kind = obj["kind"]
        body = self._body(obj)
        return self._typed(kind, self._api.create_namespaced_custom_object(
            *self._group_version(kind), body["metadata"]["namespace"], PLURALS[kind], body,
            _request_timeout=self._timeout))

    @translate_errors
    def replace_object(self, obj: MeshObject) -> MeshObject:
        """PUT with metadata.resourceVersion in the body: the server refuses a stale write with 409."""
        kind, meta = obj["kind"], obj["metadata"]
        return self._typed(kind, self._api.replace_namespaced_custom_object(
            *self._group_version(kind), meta["namespace"], PLURALS[kind], meta["name"], self._body(obj),
            _request_timeout=self._timeout))

    @translate_errors
    def delete_object(self, kind: str, namespace: str, name: str, resource_version: str) -> None:
        from kubernetes.client import V1DeleteOptions, V1Preconditions

        options = V1DeleteOptions(preconditions=V1Preconditions(resource_version=resource_version))
        self._api.delete_namespaced_custom_object(*self._group_version(kind), namespace, PLURALS[kind], name,
                                                  body=options, _request_timeout=self._timeout)

    def _group_version(self, kind: str) -> tuple[str, str]:
        return OTHER_GROUPS.get(kind, (API_GROUP, self.version))

    def _body(self, obj: MeshObject) -> MeshObject:
        # status belongs to istiod (the status subresource); the main resource ignores it anyway
        group, version = self._group_version(obj["kind"])
        return {**{k: v for k, v in obj.items() if k != "status"}, "apiVersion": f"{group}/{version}"}

    def _typed(self, kind: str, item: dict[str, Any]) -> MeshObject:
        group, version = self._group_version(kind)
        item.setdefault("apiVersion", f"{group}/{version}")
        item.setdefault("kind", kind)
        return item

    @translate_errors
    def can(self, verb: str, group: str, resource: str, namespace: str | None) -> bool:
        """Ask the API server itself (SelfSubjectAccessReview), so RBAC, webhooks and groups all count."""
        from kubernetes import client

        review = client.V1SelfSubjectAccessReview(spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(verb=verb, group=group, resource=resource,
                                                            namespace=namespace)))
        answer = client.AuthorizationV1Api(self.api_client).create_self_subject_access_review(
            review, _request_timeout=self._timeout)
        return bool(answer.status and answer.status.allowed)
