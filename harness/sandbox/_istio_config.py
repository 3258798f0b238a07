"""Istio objects in the sandbox cluster, changed as an admin's ``kubectl apply`` would, then awaited in the data plane.

Every write goes through the sandbox's API server (so the Istio webhook, resourceVersions and RBAC
apply); "done" means the sandbox's istiod reports the object's generation Reconciled in every proxy,
the same signal the harness waits for on a cluster.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ConfigRejectedError, NotFoundError, SandboxError
from harness.sandbox._configstatus import reported
from harness.sandbox._control import read_syncz
from harness.sandbox._kubeapi import ISTIO_KINDS, KubeApi, object_ref

Key = tuple[str, str, str]
SYNC_DEADLINE_S = 60.0


def key_of(obj: dict[str, Any]) -> Key:
    meta = obj.get("metadata") or {}
    return str(obj.get("kind")), str(meta.get("namespace") or "default"), str(meta.get("name"))


@dataclass(frozen=True)
class ApplyResult:
    applied: list[str]        # "VirtualService shop/productcatalog created|configured|unchanged|deleted"
    seconds: float            # from the first write until every proxy had it


class IstioConfig:
    """The sandbox cluster's Istio objects, through an admin client."""

    def __init__(self, api: KubeApi, istiod_url: str) -> None:
        self.api = api
        self.istiod_url = istiod_url

    def list(self, kind: str | None = None, namespace: str | None = None) -> list[dict[str, Any]]:
        kinds = [kind] if kind else list(ISTIO_KINDS)
        return [o for k in kinds for o in self.api.list(k, namespace)]

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        return self.api.get(kind, namespace, name)

    def apply(self, objects: list[dict[str, Any]], *, wait: bool = True) -> ApplyResult:
        """Create or update each object (the whole spec, like a client-side apply without pruning)."""
        return self._change(objects, delete_others=False, wait=wait)

    def replace_all(self, objects: list[dict[str, Any]], *, wait: bool = True) -> ApplyResult:
        """Make ``objects`` the whole Istio config: others are deleted (resets the sandbox between tests)."""
        return self._change(objects, delete_others=True, wait=wait)

    # -- helpers ----------------------------------------------------------------------------------

    def _change(self, objects: list[dict[str, Any]], *, delete_others: bool, wait: bool) -> ApplyResult:
        started = time.perf_counter()
        before = read_syncz(self.istiod_url).get("version") or 0
        applied: list[str] = []
        deleted = False
        if delete_others:
            wanted = {key_of(o) for o in objects}
            for live in self.list():
                if key_of(live) in wanted:
                    continue
                try:
                    self.api.delete(*key_of(live))
                except NotFoundError:
                    continue
                applied.append(f"{object_ref(live)} deleted")
                deleted = True
        written = []
        for obj in objects:
            action, stored = self._put(obj)
            applied.append(f"{object_ref(obj)} {action}")
            if action != "unchanged":
                written.append(stored)
        if wait and (written or deleted):
            self._wait(written, deleted, int(before))
        return ApplyResult(applied, time.perf_counter() - started)

    def _put(self, obj: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        body = {k: v for k, v in obj.items() if k != "status"}
        meta = dict(body.get("metadata") or {})
        meta.setdefault("namespace", "default")
        for key in ("resourceVersion", "uid", "creationTimestamp", "generation", "managedFields"):
            meta.pop(key, None)
        body["metadata"] = meta
        kind, namespace, name = key_of(body)
        try:
            live = self.api.get(kind, namespace, name)
        except NotFoundError:
            return "created", self.api.create(body)
        body["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"]
        stored = self.api.replace(body)
        same = stored["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]
        return ("unchanged" if same else "configured"), stored

    def _wait(self, written: list[dict[str, Any]], deleted: bool, before: int,
              deadline_s: float = SYNC_DEADLINE_S) -> None:
        """Until each written generation is Reconciled everywhere (and a deletion was pushed)."""
        end = time.monotonic() + deadline_s
        pending = {key_of(o): int(o["metadata"].get("generation") or 1) for o in written}
        while True:
            for key, generation in list(pending.items()):
                try:
                    live = self.get(*key)
                except NotFoundError:
                    pending.pop(key)
                    continue
                seen = reported(live)
                if seen and seen[0] >= generation:
                    if seen[1] == "True/":
                        pending.pop(key)
                    elif not seen[1].endswith("stillPropagating"):
                        condition = live.get("status", {}).get("conditions", [{}])[0]
                        raise ConfigRejectedError(f"{key[0]} {key[1]}/{key[2]} was rejected by the data plane: "
                                                  f"{condition.get('message', seen[1])}")
            synced = read_syncz(self.istiod_url)
            deletions_done = not deleted or (int(synced.get("version") or 0) > before
                                             and all(p["status"] == "SYNCED" for p in synced.get("proxies", [])))
            if not pending and deletions_done:
                return
            if time.monotonic() >= end:
                waiting = ", ".join(f"{k[0]} {k[1]}/{k[2]}" for k in pending) or "the deletions"
                raise SandboxError(f"istiod did not push {waiting} within {deadline_s:g}s",
                                   hint="see the sandbox's logs/istiod.log")
            time.sleep(0.05)


def admin_config(state_dir: Path, istiod_url: str) -> IstioConfig:
    from harness.sandbox._cluster import ADMIN_CONTEXT, KUBECONFIG

    return IstioConfig(KubeApi.from_kubeconfig(state_dir / KUBECONFIG, ADMIN_CONTEXT), istiod_url)
