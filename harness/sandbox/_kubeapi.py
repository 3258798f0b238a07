"""Any Kubernetes object by kind, over the real ``kubernetes`` client: the sandbox's own REST calls.

The sandbox seeds its cluster objects, istiod writes config status and ``Sandbox.istio`` applies Istio
objects through this one module, so every call is authenticated, authorised and admitted by the
sandbox's API server exactly as a user's ``kubectl`` is. API errors become harness errors here.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigRejectedError, ConflictError, KubernetesError, NotFoundError, SandboxError

log = logging.getLogger(__name__)
ISTIO_GROUP = "networking.istio.io"
ISTIO_VERSION = "v1"
MERGE_PATCH = "application/merge-patch+json"


@dataclass(frozen=True)
class Kind:
    """Where a kind lives in the API: group, preferred version, plural and scope."""

    name: str
    group: str
    version: str
    plural: str
    namespaced: bool = True

    def path(self, namespace: str | None = None, name: str | None = None, *, version: str | None = None) -> str:
        """The REST path of a collection (or one object); ``namespace=None`` lists all namespaces."""
        base = f"/api/{version or self.version}" if not self.group else f"/apis/{self.group}/{version or self.version}"
        if self.namespaced and namespace is not None:
            base += f"/namespaces/{urllib.parse.quote(namespace)}"
        base += f"/{self.plural}"
        return base + (f"/{urllib.parse.quote(name)}" if name else "")


_TABLE = [
    Kind("Namespace", "", "v1", "namespaces", False), Kind("Service", "", "v1", "services"),
    Kind("Endpoints", "", "v1", "endpoints"), Kind("Pod", "", "v1", "pods"),
    Kind("ServiceAccount", "", "v1", "serviceaccounts"), Kind("Secret", "", "v1", "secrets"),
    Kind("ConfigMap", "", "v1", "configmaps"), Kind("Deployment", "apps", "v1", "deployments"),
    Kind("Role", "rbac.authorization.k8s.io", "v1", "roles"),
    Kind("RoleBinding", "rbac.authorization.k8s.io", "v1", "rolebindings"),
    Kind("ClusterRole", "rbac.authorization.k8s.io", "v1", "clusterroles", False),
    Kind("ClusterRoleBinding", "rbac.authorization.k8s.io", "v1", "clusterrolebindings", False),
    Kind("Lease", "coordination.k8s.io", "v1", "leases"),
    Kind("VirtualService", ISTIO_GROUP, ISTIO_VERSION, "virtualservices"),
    Kind("DestinationRule", ISTIO_GROUP, ISTIO_VERSION, "destinationrules"),
    Kind("Gateway", ISTIO_GROUP, ISTIO_VERSION, "gateways"),
    Kind("ServiceEntry", ISTIO_GROUP, ISTIO_VERSION, "serviceentries"),
    Kind("Sidecar", ISTIO_GROUP, ISTIO_VERSION, "sidecars"),
]
KINDS: Mapping[str, Kind] = {k.name: k for k in _TABLE}
ISTIO_KINDS = tuple(k.name for k in _TABLE if k.group == ISTIO_GROUP)


def kind_of(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise SandboxError(f"the sandbox does not serve kind {name!r} (served: {', '.join(KINDS)})") from None


def object_path(obj: Mapping[str, Any], *, with_name: bool = True) -> str:
    """The REST path of ``obj`` at the version its ``apiVersion`` names."""
    kind = kind_of(str(obj.get("kind")))
    meta = obj.get("metadata") or {}
    version = str(obj.get("apiVersion", "")).rpartition("/")[2] or None
    namespace = str(meta.get("namespace") or "default") if kind.namespaced else None
    return kind.path(namespace, str(meta.get("name")) if with_name else None, version=version)


def object_ref(obj: Mapping[str, Any]) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {where}{meta.get('name')}"


class KubeApi:
    """JSON requests to an API server through a ``kubernetes.client.ApiClient`` (bearer token auth)."""

    def __init__(self, api_client: Any, *, timeout_s: float = 10.0) -> None:
        self.api_client = api_client
        self.timeout_s = timeout_s

    @classmethod
    def connect(cls, url: str, ca_cert: Path, token: str) -> KubeApi:
        """A client for ``url`` trusting ``ca_cert`` and sending ``token``."""
        from kubernetes import client

        configuration = client.Configuration()
        configuration.host = url
        configuration.ssl_ca_cert = str(ca_cert)
        configuration.api_key = {"authorization": f"Bearer {token}"}
        return cls(client.ApiClient(configuration))

    @classmethod
    def from_kubeconfig(cls, path: Path, context: str) -> KubeApi:
        from kubernetes import config

        try:
            return cls(config.new_client_from_config(config_file=str(path), context=context))
        except (config.ConfigException, OSError) as exc:
            raise SandboxError(f"cannot load the sandbox kubeconfig {path} (context {context}): {exc}",
                               hint="is the sandbox running? 'harness sandbox status'") from None

    def request(self, method: str, path: str, body: Any = None, *, query: Mapping[str, str] | None = None,
                content_type: str = "application/json") -> Any:
        """Send one request; return the decoded JSON answer or raise a harness error."""
        headers = {"Accept": "application/json", "Content-Type": content_type}
        serialized = self.api_client.param_serialize(method, path, query_params=list((query or {}).items()),
                                                     header_params=headers, body=body, auth_settings=["BearerToken"])
        try:
            response = self.api_client.call_api(*serialized, _request_timeout=self.timeout_s)
            data = response.read()
        except Exception as exc:  # urllib3 and ApiException(status=0): the server is not reachable
            raise SandboxError(f"the sandbox API server is unreachable ({method} {path}): {exc}",
                               hint="is the sandbox running? 'harness sandbox status'") from None
        decoded = json.loads(data) if data else None
        if not 200 <= response.status < 300:
            raise api_error(response.status, decoded, f"{method} {path}")
        return decoded

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.request("POST", object_path(obj, with_name=False), dict(obj)))

    def replace(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return dict(self.request("PUT", object_path(obj), dict(obj)))

    def get(self, kind: str, namespace: str | None, name: str) -> dict[str, Any]:
        return dict(self.request("GET", kind_of(kind).path(namespace, name)))

    def list(self, kind: str, namespace: str | None = None, *, label_selector: str | None = None) -> list[dict[str, Any]]:
        """Objects of one kind (all namespaces when ``namespace`` is None), each with kind and apiVersion."""
        info = kind_of(kind)
        query = {"labelSelector": label_selector} if label_selector else None
        answer = self.request("GET", info.path(namespace), query=query)
        api_version = f"{info.group}/{info.version}" if info.group else info.version
        return [{"apiVersion": api_version, "kind": kind, **item} for item in answer.get("items") or []]

    def delete(self, kind: str, namespace: str | None, name: str) -> None:
        self.request("DELETE", kind_of(kind).path(namespace, name))

    def patch_status(self, obj: Mapping[str, Any], status: Mapping[str, Any]) -> dict[str, Any]:
        """Merge ``status`` into the object's status subresource (spec and metadata are not touched)."""
        return dict(self.request("PATCH", object_path(obj) + "/status", {"status": dict(status)},
                                 content_type=MERGE_PATCH))

    def close(self) -> None:
        self.api_client.close()


def api_error(status: int, body: Any, what: str) -> Exception:
    """The harness error for an API answer: 404, 409, a webhook denial (400), anything else."""
    message = body.get("message") if isinstance(body, dict) else None
    message = str(message or body or f"HTTP {status}")
    if status == 404:
        return NotFoundError(message)
    if status == 409:
        return ConflictError(message)
    if status == 400 and "admission webhook" in message:
        return ConfigRejectedError(message)
    if status in (401, 403):
        return KubernetesError(f"{what}: {message}", hint="the sandbox kubeconfig's token was refused; "
                                                          "restart the sandbox if it was restarted")
    return KubernetesError(f"{what}: {message}")
