"""A real cluster through the ``kubernetes`` client: ``networking.istio.io`` custom objects.

The API version is the first of v1, v1beta1, v1alpha3 that the server serves. Every write carries
the resourceVersion it read (replace with it in the body, delete with a precondition), so a lost
race is a 409 that becomes ConflictError. Third-party errors are translated here and only here.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from typing import Any, TypeVar

from harness.errors import ConflictError, KubernetesError, NotFoundError, TransientBackendError
from harness.istio import API_GROUP, API_VERSIONS
from harness.mesh._backend import MeshObject

PLURALS = {"VirtualService": "virtualservices", "DestinationRule": "destinationrules", "Gateway": "gateways"}
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
            message = _message(exc)
            if exc.status == 409:
                raise ConflictError(message) from None
            if exc.status == 404:
                raise NotFoundError(message) from None
            if exc.status in (429, 500, 502, 503, 504):
                raise TransientBackendError(f"Kubernetes API answered {exc.status}: {message}") from None
            if exc.status in (401, 403):
                raise KubernetesError(f"Kubernetes API refused access ({exc.status}): {message}",
                                      hint="apply the Role in deploy/rbac.yaml to the namespace") from None
            raise KubernetesError(f"Kubernetes API answered {exc.status}: {message}") from None
        except (HTTPError, OSError) as exc:
            raise TransientBackendError(f"Kubernetes API unreachable: {exc}") from None
    return wrapper


def _message(exc: Any) -> str:
    import json

    try:
        return str(json.loads(exc.body).get("message", exc.reason))
    except (TypeError, ValueError):
        return str(exc.reason)


class KubernetesBackend:
    name = "kubernetes"

    def __init__(self, *, context: str | None = None, config_file: str | None = None,
                 request_timeout_s: float = 10.0) -> None:
        from kubernetes import client, config

        try:
            # read $KUBECONFIG now, not when the client library was imported
            api_client = config.new_client_from_config(config_file=config_file or os.environ.get("KUBECONFIG"),
                                                       context=context)
        except config.ConfigException as exc:
            raise KubernetesError(f"cannot load kubeconfig: {exc}",
                                  hint="set KUBECONFIG or pass --context; in a pod, use a ServiceAccount") from None
        self._api = client.CustomObjectsApi(api_client)
        self._apis = client.ApisApi(api_client)
        self._timeout = request_timeout_s
        self.context = context
        self.version = self._served_version()

    @translate_errors
    def _served_version(self) -> str:
        groups = self._apis.get_api_versions(_request_timeout=self._timeout).groups
        served = next(([v.version for v in g.versions] for g in groups if g.name == API_GROUP), [])
        for version in API_VERSIONS:
            if version in served:
                return version
        raise KubernetesError(f"the cluster does not serve {API_GROUP} (is Istio installed?)")

    @translate_errors
    def list_objects(self, kind: str, namespace: str | None) -> list[MeshObject]:
        plural = PLURALS[kind]
        if namespace is None:
            answer = self._api.list_cluster_custom_object(API_GROUP, self.version, plural,
                                                          _request_timeout=self._timeout)
        else:
            answer = self._api.list_namespaced_custom_object(API_GROUP, self.version, namespace, plural,
                                                             _request_timeout=self._timeout)
        return [self._typed(kind, item) for item in answer.get("items", [])]

    @translate_errors
    def get_object(self, kind: str, namespace: str, name: str) -> MeshObject:
        return self._typed(kind, self._api.get_namespaced_custom_object(
            API_GROUP, self.version, namespace, PLURALS[kind], name, _request_timeout=self._timeout))

    @translate_errors
    def create_object(self, obj: MeshObject) -> MeshObject:
        kind = obj["kind"]
        body = {**obj, "apiVersion": f"{API_GROUP}/{self.version}"}
        return self._typed(kind, self._api.create_namespaced_custom_object(
            API_GROUP, self.version, body["metadata"]["namespace"], PLURALS[kind], body,
            _request_timeout=self._timeout))

    @translate_errors
    def replace_object(self, obj: MeshObject) -> MeshObject:
        """PUT with metadata.resourceVersion in the body: the server refuses a stale write with 409."""
        kind, meta = obj["kind"], obj["metadata"]
        body = {**obj, "apiVersion": f"{API_GROUP}/{self.version}"}
        return self._typed(kind, self._api.replace_namespaced_custom_object(
            API_GROUP, self.version, meta["namespace"], PLURALS[kind], meta["name"], body,
            _request_timeout=self._timeout))

    @translate_errors
    def delete_object(self, kind: str, namespace: str, name: str, resource_version: str) -> None:
        from kubernetes.client import V1DeleteOptions, V1Preconditions

        options = V1DeleteOptions(preconditions=V1Preconditions(resource_version=resource_version))
        self._api.delete_namespaced_custom_object(API_GROUP, self.version, namespace, PLURALS[kind], name,
                                                  body=options, _request_timeout=self._timeout)

    def _typed(self, kind: str, item: dict[str, Any]) -> MeshObject:
        item.setdefault("apiVersion", f"{API_GROUP}/{self.version}")
        item.setdefault("kind", kind)
        return item
