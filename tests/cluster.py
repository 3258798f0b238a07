"""The sandbox's own Kubernetes API server, started alone for tests that need an API but no data plane.

It is the same server ``harness sandbox up`` runs (HTTPS, tokens, RBAC, admission, resourceVersions):
tests reach it through a kubeconfig with the real ``kubernetes`` client. ``fail_next``/``delay_next``
use the server's sandbox-only ``/debug/faults`` knob to make the API flaky.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from harness._process import stop_process
from harness.errors import NotFoundError
from harness.sandbox._api._kubeconfig import write_kubeconfig
from harness.sandbox._cluster import grant_harness_access, start_api_server, wait_api_server
from harness.sandbox._kubeapi import KubeApi

PLURAL_KINDS = {"virtualservices": "VirtualService", "destinationrules": "DestinationRule", "gateways": "Gateway",
                "services": "Service", "configmaps": "ConfigMap", "deployments": "Deployment", "leases": "Lease"}


class ApiCluster:
    """A running API server with namespaces ``shop``, ``load`` and the harness's ServiceAccount in ``shop``."""

    def __init__(self, folder: Path, *, istio_versions: tuple[str, ...] = ("v1", "v1beta1", "v1alpha3"),
                 namespaces: tuple[str, ...] = ("shop", "load", "istio-system")) -> None:
        self.folder = folder
        child, ready, token = start_api_server(folder, folder / "logs", istio_versions=istio_versions)
        self.child = child
        try:
            self.endpoint = wait_api_server(child, ready, token)
            self.admin = KubeApi.connect(self.endpoint.url, self.endpoint.ca_cert, token)
            for name in namespaces:
                self.admin.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
            self.harness_token = grant_harness_access(self.admin, "shop")
        except BaseException:
            stop_process(child.record, timeout_s=5)
            raise

    @property
    def url(self) -> str:
        return self.endpoint.url

    def kubeconfig(self, path: Path, context: str = "staging", *, as_harness: bool = False,
                   namespace: str = "shop") -> Path:
        """A kubeconfig whose current context is ``context``: the admin, or the harness's ServiceAccount."""
        token = self.harness_token if as_harness else self.endpoint.admin_token
        return write_kubeconfig(path, server=self.url, ca_cert=self.endpoint.ca_cert,
                                contexts={context: (token, namespace)}, current=context)

    def kubeconfig_dict(self, context: str = "staging") -> dict[str, Any]:
        path = self.folder / f"kubeconfig-{context}"
        return dict(yaml.safe_load(self.kubeconfig(path, context).read_text()))

    # -- objects as an admin sees them --------------------------------------------------------------

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Create ``obj``, or update it to this content (as someone's ``kubectl apply``)."""
        meta = obj["metadata"]
        try:
            live = self.admin.get(obj["kind"], meta.get("namespace"), meta["name"])
        except NotFoundError:
            return self.admin.create({k: v for k, v in obj.items() if k != "status"})
        body = {**obj, "metadata": {**meta, "resourceVersion": live["metadata"]["resourceVersion"]}}
        return self.admin.replace(body)

    def get(self, namespace: str, name: str, plural: str = "virtualservices") -> dict[str, Any] | None:
        try:
            return self.admin.get(PLURAL_KINDS[plural], namespace, name)
        except NotFoundError:
            return None

    def list(self, plural: str = "virtualservices", namespace: str | None = None) -> list[dict[str, Any]]:
        return self.admin.list(PLURAL_KINDS[plural], namespace)

    @property
    def objects(self) -> dict[tuple[str, str, str], dict[str, Any]]:
        """Istio VirtualServices and DestinationRules by (plural, namespace, name)."""
        found = {}
        for plural in ("virtualservices", "destinationrules"):
            for obj in self.list(plural):
                found[(plural, obj["metadata"]["namespace"], obj["metadata"]["name"])] = obj
        return found

    # -- a flaky API ----------------------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 500) -> None:
        self.admin.request("POST", "/debug/faults", {"count": count, "status": status})

    def lose_answers(self, *, after: int, status: int = 504) -> None:
        """After ``after`` requests that go through, the next one takes effect but answers ``status`` (a timeout
        after commit: the client cannot tell whether it happened)."""
        if after:
            self.admin.request("POST", "/debug/faults", {"count": after, "delay_s": 0.001})
        self.admin.request("POST", "/debug/faults", {"count": 1, "status": status, "after_commit": True,
                                                     "replace": not after})

    def delay_next(self, count: int, seconds: float) -> None:
        self.admin.request("POST", "/debug/faults", {"count": count, "delay_s": seconds})

    def stop(self) -> None:
        self.admin.close()
        stop_process(self.child.record, timeout_s=5)


@contextmanager
def api_cluster(folder: Path, **kwargs: Any) -> Iterator[ApiCluster]:
    cluster = ApiCluster(folder, **kwargs)
    try:
        yield cluster
    finally:
        cluster.stop()

