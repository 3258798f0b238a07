"""What only a sandbox can do: real upstream failures, pod restarts, and istiod's per-proxy sync status.

This is the sandbox-only control interface; everything else is reached through the kubeconfig like a
cluster. Built from the state folder, so any process (the runner, a test, ``harness sandbox restart``)
can use a sandbox another process started.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from harness._net import http_json
from harness._process import ProcessRecord, stop_process, wait_until
from harness.errors import SandboxError, SandboxNotRunning
from harness.sandbox._api._registry import now_rfc3339
from harness.sandbox._cluster import ADMIN_CONTEXT, KUBECONFIG
from harness.sandbox._envoy import proxy_paths, start_envoy, wait_envoy_ready
from harness.sandbox._kubeapi import KubeApi
from harness.sandbox._layout import Layout, Proxy
from harness.sandbox._statefile import read_state, update_state
from harness.sandbox._topology import Topology
from harness.sandbox._workloads import PodRef, pod_refs

log = logging.getLogger(__name__)
Behaviour = list[dict[str, Any]]


def read_syncz(istiod_url: str) -> dict[str, Any]:
    """istiod's ``/debug/syncz``: push version and, per proxy, SYNCED / STALE / NACK (with Envoy's reason)."""
    try:
        return dict(http_json(f"{istiod_url}/debug/syncz", timeout_s=5))
    except OSError as exc:
        raise SandboxError(f"istiod does not answer: {exc}", hint="'harness sandbox status' shows its process") from None


class SandboxControl:
    """Sandbox-only knobs of the sandbox running in ``state_dir``."""

    def __init__(self, state_dir: Path) -> None:
        state = read_state(state_dir)
        if state is None or state.get("status") == "stopped":
            raise SandboxNotRunning(f"no sandbox runs in {state_dir}", hint="start one with 'harness sandbox up'")
        self.state_dir = state_dir
        self.topology = Topology.model_validate(state["topology"])
        self.layout = Layout.from_dict(state["layout"])
        self.control_url = str(state["control_url"])
        self.istiod_url = str(state["istiod_url"])

    # -- real upstream failures ----------------------------------------------------------------

    def behaviour(self) -> Behaviour:
        """Every replica: its behaviour, request and error counts since its (re)start."""
        return list(self._call("/behaviour", None, "read the demo services' behaviour"))

    def set_behaviour(
        self, service: str, *, version: str | None = None, replica: int | str | None = None, reset: bool = False,
        latency_ms: float | None = None, error_rate: float | None = None, error_status: int | None = None,
    ) -> Behaviour:
        """Change how replicas answer, at run time: extra latency, a share of errors, their status."""
        values = {"latency_ms": latency_ms, "error_rate": error_rate, "error_status": error_status}
        body = {"service": service, "version": version, "replica": replica, "reset": reset,
                "behaviour": {k: v for k, v in values.items() if v is not None}}
        return list(self._call("/behaviour", body, f"change the behaviour of {service}"))

    def snapshot(self) -> Behaviour:
        """The behaviour of every replica, for ``restore``."""
        return [{k: r[k] for k in ("service", "version", "index", "behaviour")} for r in self.behaviour()]

    def restore(self, snapshot: Behaviour) -> None:
        """Give every replica in ``snapshot`` exactly its recorded behaviour back."""
        for replica in snapshot:
            self._call("/behaviour", {"service": replica["service"], "version": replica["version"],
                                      "replica": replica["index"], "reset": True, "behaviour": replica["behaviour"]},
                       f"restore the behaviour of {replica['service']}")

    def _call(self, path: str, body: Any, what: str) -> Any:
        try:
            return http_json(f"{self.control_url}{path}", method="GET" if body is None else "POST", body=body)
        except OSError as exc:
            raise SandboxError(f"cannot {what}: {exc}") from None

    # -- pods -----------------------------------------------------------------------------------

    def pods(self) -> list[PodRef]:
        return pod_refs(self.layout)

    def pod(self, name: str) -> PodRef:
        for ref in self.pods():
            if ref.name == name:
                return ref
        known = ", ".join(r.name for r in self.pods())
        raise SandboxError(f"no pod {name!r} in the sandbox", hint=f"pods: {known}")

    def restart(self, pod: str) -> dict[str, Any]:
        """Restart what backs ``pod`` (its Envoy, its replica or both); return the Pod as the API has it now."""
        ref = self.pod(pod)
        if ref.proxy:
            self._restart_envoy(self.layout.proxy(ref.proxy))
        if ref.replica:
            self._call("/restart", {"replica": ref.replica}, f"restart {pod}")
        updated = self._bump_restart_count(ref)
        if ref.proxy:
            self._wait_synced(ref.proxy)
        log.info("restarted pod %s/%s", ref.namespace, ref.name)
        return updated

    def _restart_envoy(self, proxy: Proxy) -> None:
        """A new Envoy process from the same bootstrap: counters from zero, config from istiod's files."""
        name = f"envoy:{proxy.name}"
        state = read_state(self.state_dir) or {}
        old = next((ProcessRecord.from_dict(p) for p in state.get("processes", []) if p["name"] == name), None)
        if old is not None:
            stop_process(old, timeout_s=5)
        # the stats lived in that Envoy: its istio_* series start again from 0 (after its last log lines count)
        try:
            http_json(f"http://127.0.0.1:{self.layout.telemetry_port}/reset?pod={proxy.name}", method="POST", body={},
                      timeout_s=10)
        except OSError as exc:
            raise SandboxError(f"the telemetry exporter did not reset {proxy.name}'s series: {exc}") from None
        child = start_envoy(proxy_paths(self.state_dir, proxy), proxy, concurrency=self.topology.proxy_concurrency,
                            log_dir=self.state_dir / "logs")

        def replace(current: dict[str, Any]) -> None:
            others = [p for p in current.get("processes", []) if p["name"] != name]
            current["processes"] = others + [child.record.to_dict()]

        update_state(self.state_dir, replace)
        wait_envoy_ready(child, proxy)

    def _bump_restart_count(self, ref: PodRef) -> dict[str, Any]:
        """The kubelet's report of a container restart: restartCount + 1, a new start time."""
        api = self.admin_api()
        try:
            current = api.get("Pod", ref.namespace, ref.name)
            status = dict(current.get("status") or {})
            now = now_rfc3339()
            statuses = []
            for container in status.get("containerStatuses") or []:
                previous = (container.get("state") or {}).get("running", {}).get("startedAt", now)
                statuses.append({**container, "restartCount": int(container.get("restartCount", 0)) + 1,
                                 "state": {"running": {"startedAt": now}},
                                 "lastState": {"terminated": {"exitCode": 0, "reason": "Completed",
                                                              "startedAt": previous, "finishedAt": now}}})
            return api.patch_status(current, {**status, "startTime": now, "containerStatuses": statuses})
        finally:
            api.close()

    def _wait_synced(self, proxy: str, deadline_s: float = 15.0) -> None:
        def synced() -> bool:
            return any(p["proxy"] == proxy and p["status"] == "SYNCED" for p in self.sync_status()["proxies"])

        wait_until(synced, what=f"istiod to report {proxy} in sync", deadline_s=deadline_s)

    # -- istiod ---------------------------------------------------------------------------------

    def sync_status(self) -> dict[str, Any]:
        return read_syncz(self.istiod_url)

    def admin_api(self) -> KubeApi:
        return KubeApi.from_kubeconfig(self.state_dir / KUBECONFIG, ADMIN_CONTEXT)
