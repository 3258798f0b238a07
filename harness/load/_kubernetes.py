"""Locust workers as pods: render deploy/locust/*.yaml for a run and apply or delete them.

The master runs where the harness runs (workers connect to ``master_host``) or in the cluster
(``master_host`` is the rendered Service). Workers send their full-resolution records to the
master, so the harness gets one record either way.
"""

from __future__ import annotations

import contextlib
import json
import string
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness._shipped import shipped_dir
from harness.errors import ConflictError, LoadError, NotFoundError
from harness.mesh._kubernetes_backend import translate_errors

MANIFESTS = shipped_dir("deploy") / "locust"


@dataclass(frozen=True)
class WorkerPlan:
    namespace: str
    run_id: str
    workers: int
    master_host: str
    master_port: int
    image: str
    locustfile: Path
    load_config: dict[str, Any]
    expires_at: str = ""  # ISO 8601; past it, `harness cleanup` deletes what is left of this run's load

    @property
    def name(self) -> str:
        return f"chaos-load-{self.run_id}"


def render(plan: WorkerPlan, folder: Path = MANIFESTS) -> list[dict[str, Any]]:
    """The manifests for ``plan``, as objects (ConfigMap, master Service, worker Deployment)."""
    config = {**plan.load_config, "parent_pid": 0, "samples_path": None, "status_path": None}  # pods: no parent, no file
    values = {
        "NAME": plan.name, "NAMESPACE": plan.namespace, "RUN_ID": plan.run_id, "WORKERS": str(plan.workers),
        "EXPIRES": plan.expires_at, "MASTER_HOST": plan.master_host, "MASTER_PORT": str(plan.master_port),
        "IMAGE": plan.image,
        "LOCUSTFILE_JSON": json.dumps(plan.locustfile.read_text()), "LOAD_CONFIG_JSON": json.dumps(json.dumps(config)),
    }
    objects: list[dict[str, Any]] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            text = string.Template(path.read_text()).substitute(values)
        except KeyError as exc:
            raise LoadError(f"{path}: unknown placeholder {exc}") from None
        objects.extend(doc for doc in yaml.safe_load_all(text) if doc)
    return objects


class WorkerPods:
    """Create or replace the rendered objects, and delete them at the end of the run."""

    def __init__(self, api_client: Any) -> None:
        from kubernetes import client

        self._core = client.CoreV1Api(api_client)
        self._apps = client.AppsV1Api(api_client)

    def apply(self, objects: list[dict[str, Any]]) -> None:
        for obj in objects:
            self._apply_one(obj)

    def delete(self, objects: list[dict[str, Any]]) -> None:
        for obj in reversed(objects):
            with contextlib.suppress(NotFoundError):
                self._call(obj, "delete")

    @translate_errors
    def _apply_one(self, obj: dict[str, Any]) -> None:
        try:
            self._call(obj, "create")
        except ConflictError:
            meta = obj["metadata"]
            current = self._read(obj)
            obj = {**obj, "metadata": {**meta, "resourceVersion": current.metadata.resource_version}}
            self._call(obj, "replace")

    @translate_errors
    def _read(self, obj: dict[str, Any]) -> Any:
        return self._call(obj, "read")

    @translate_errors
    def _call(self, obj: dict[str, Any], verb: str) -> Any:
        kind, meta = obj["kind"], obj["metadata"]
        api, suffix = {"Deployment": (self._apps, "deployment"), "Service": (self._core, "service"),
                       "ConfigMap": (self._core, "config_map")}[kind]
        method = getattr(api, f"{verb}_namespaced_{suffix}")
        if verb == "create":
            return method(meta["namespace"], obj)
        if verb == "replace":
            return method(meta["name"], meta["namespace"], obj)
        return method(meta["name"], meta["namespace"])


KINDS_WITH_WORKERS = ("Deployment", "Service", "ConfigMap")
RUN_LABEL = "chaos.harness.io/run-id"
EXPIRES = "chaos.harness.io/expires-at"


def leftover_load_objects(api_client: Any, namespace: str | None, *, run_id: str | None = None,
                          everything: bool = False) -> list[dict[str, Any]]:
    """Worker Deployments, master Services and ConfigMaps of runs that are over (expired, or asked for)."""
    from datetime import UTC, datetime

    from kubernetes import client

    core, apps = client.CoreV1Api(api_client), client.AppsV1Api(api_client)
    selector = f"{RUN_LABEL}={run_id}" if run_id else RUN_LABEL
    listings = {"Deployment": apps.list_deployment_for_all_namespaces, "Service": core.list_service_for_all_namespaces,
                "ConfigMap": core.list_config_map_for_all_namespaces}
    if namespace:
        listings = {"Deployment": lambda **kw: apps.list_namespaced_deployment(namespace, **kw),
                    "Service": lambda **kw: core.list_namespaced_service(namespace, **kw),
                    "ConfigMap": lambda **kw: core.list_namespaced_config_map(namespace, **kw)}
    now = datetime.now(UTC)
    found = []
    for kind, listing in listings.items():
        for item in _listed(listing, selector):
            annotations = item.metadata.annotations or {}
            try:
                expired = datetime.fromisoformat(annotations.get(EXPIRES, "")) <= now
            except ValueError:
                expired = True  # no readable expiry: a leftover of an older harness, or hand-made
            if run_id or everything or expired:
                found.append({"kind": kind, "metadata": {"name": item.metadata.name,
                                                         "namespace": item.metadata.namespace,
                                                         "run_id": (item.metadata.labels or {}).get(RUN_LABEL)}})
    return found


@translate_errors
def _listed(listing: Any, selector: str) -> list[Any]:
    return list(listing(label_selector=selector).items)


def delete_load_objects(api_client: Any, objects: list[dict[str, Any]]) -> None:
    WorkerPods(api_client).delete(objects)
