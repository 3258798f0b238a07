"""The sandbox's control plane start: its API server process, the seeded cluster, and the kubeconfig.

The API server runs as ``python -m harness.sandbox._api CONFIG.json`` and is reached only over
HTTPS with bearer tokens, as a cluster is: the admin (a static token, like kube-apiserver's
``--token-auth-file``) seeds everything, and the harness's own ServiceAccount gets its token from a
``kubernetes.io/service-account-token`` Secret the server fills in.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness._process import ChildProcess, start_process, wait_until
from harness.errors import SandboxError
from harness.sandbox._api._registry import now_rfc3339
from harness.sandbox._kubeapi import KubeApi, object_ref
from harness.sandbox._layout import Layout
from harness.sandbox._topology import Topology
from harness.sandbox._workloads import (
    HARNESS_ACCOUNT,
    TOKEN_SECRET,
    Workload,
    demo_workloads,
    deployment_status,
    gateway_workload,
    namespaces,
    pod_status,
    rbac_objects,
    service_objects,
    token_secret,
)

log = logging.getLogger(__name__)
KUBECONFIG = "kubeconfig"
CONTEXT = "sandbox"              # the harness's ServiceAccount, namespace of the topology (what runs use)
ADMIN_CONTEXT = "sandbox-admin"  # system:masters; the current context, as kind and minikube give their admin
ADMIN_USER = {"username": "admin", "groups": ["system:masters", "system:authenticated"]}


@dataclass(frozen=True)
class ApiEndpoint:
    url: str
    ca_cert: Path
    admin_token: str


def start_api_server(state_dir: Path, log_dir: Path, *, istio_versions: tuple[str, ...] = ("v1", "v1beta1", "v1alpha3")
                     ) -> tuple[ChildProcess, Path, str]:
    """Start the API server process; return it, its ready file and the admin token."""
    api_dir = state_dir / "api"
    api_dir.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    ready_file = api_dir / "ready.json"
    config = {"data_dir": str(api_dir / "data"), "port": 0, "ready_file": str(ready_file),
              "static_tokens": {token: ADMIN_USER}, "istio_versions": list(istio_versions)}
    path = api_dir / "config.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)  # holds the admin token
    with os.fdopen(fd, "w") as handle:
        json.dump(config, handle)
    child = start_process("apiserver", [sys.executable, "-m", "harness.sandbox._api", str(path)],
                          log_path=log_dir / "apiserver.log")
    return child, ready_file, token


def wait_api_server(child: ChildProcess, ready_file: Path, token: str, *, deadline_s: float = 20.0) -> ApiEndpoint:
    """Wait for the ready file, then for /readyz through the admin client."""
    wait_until(ready_file.exists, what="the sandbox API server", deadline_s=deadline_s, watch=[child])
    info = json.loads(ready_file.read_text())
    endpoint = ApiEndpoint(str(info["url"]), Path(info["ca_cert"]), token)
    api = KubeApi.connect(endpoint.url, endpoint.ca_cert, token)
    try:
        wait_until(lambda: _answers(api), what="the sandbox API server to answer", deadline_s=deadline_s, watch=[child])
    finally:
        api.close()
    return endpoint


def _answers(api: KubeApi) -> bool:
    try:
        api.request("GET", "/api")
    except SandboxError:
        return False
    return True


def seed_cluster(api: KubeApi, topology: Topology, layout: Layout, istio: list[dict[str, Any]]) -> str:
    """Create every cluster object as an admin would; return the harness ServiceAccount's token."""
    for obj in namespaces(topology):
        _create(api, obj)
    token = grant_harness_access(api, topology.namespace)
    for obj in service_objects(topology, layout):
        _create(api, obj)
    accounts, gateway = gateway_workload(layout)
    for obj in accounts:
        _create(api, obj)
    for workload in [*demo_workloads(topology, layout), gateway]:
        _create_workload(api, workload)
    for obj in istio:
        _create(api, {k: v for k, v in obj.items() if k != "status"})
    return token


def grant_harness_access(api: KubeApi, namespace: str) -> str:
    """Apply deploy/rbac.yaml in ``namespace`` and return the harness ServiceAccount's token."""
    for obj in rbac_objects(namespace):
        _create(api, obj)
    _create(api, token_secret(namespace))
    return _harness_token(api, namespace)


def _create(api: KubeApi, obj: dict[str, Any]) -> dict[str, Any]:
    try:
        return api.create(obj)
    except SandboxError:
        raise
    except Exception as exc:
        raise SandboxError(f"seeding the sandbox cluster failed at {object_ref(obj)}: {exc}") from None


def _create_workload(api: KubeApi, workload: Workload) -> None:
    """Deployment and Pods; their status goes through the status subresource, as controllers write it."""
    deployment = _create(api, workload.deployment)
    api.patch_status(deployment, deployment_status(len(workload.pods)))
    started = now_rfc3339()
    for pod in workload.pods:
        api.patch_status(_create(api, pod), pod_status(started, 0, workload.containers))


def _harness_token(api: KubeApi, namespace: str) -> str:
    """The token the server filled into the Secret (legacy token controller semantics)."""
    def filled() -> bool:
        return bool((api.get("Secret", namespace, TOKEN_SECRET).get("data") or {}).get("token"))

    wait_until(filled, what=f"the token of ServiceAccount {namespace}/{HARNESS_ACCOUNT}", deadline_s=5)
    data = api.get("Secret", namespace, TOKEN_SECRET)["data"]
    return base64.b64decode(data["token"]).decode()


def write_sandbox_kubeconfig(state_dir: Path, endpoint: ApiEndpoint, harness_token: str, namespace: str) -> Path:
    """``state_dir/kubeconfig``: context "sandbox" (the harness's ServiceAccount) and "sandbox-admin" (current)."""
    from harness.sandbox._api import write_kubeconfig

    contexts = {CONTEXT: (harness_token, namespace), ADMIN_CONTEXT: (endpoint.admin_token, namespace)}
    return Path(write_kubeconfig(state_dir / KUBECONFIG, server=endpoint.url, ca_cert=endpoint.ca_cert,
                                 contexts=contexts, current=ADMIN_CONTEXT))
