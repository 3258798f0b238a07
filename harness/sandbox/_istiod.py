"""The sandbox's istiod: watch Istio config in the API server, push it to the Envoys after a delay.

Run as ``python -m harness.sandbox._istiod CONFIG.json``. Like istiod it lists and watches every Istio
kind (re-listing when a watch answers 410 Gone, https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes),
debounces changes, waits ``push_delay_s`` (istiod's debounce and push, PILOT_DEBOUNCE_AFTER/MAX), then
translates the whole config and pushes it (CDS, then RDS, each confirmed on Envoy's admin). A push an
Envoy NACKs is rolled back on every proxy, so the previous config keeps serving. It writes Istio's
config status on each object and serves per-proxy sync status on ``/debug/syncz``.
"""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.sandbox._configstatus import REJECTED, proxy_sync, reconciled_status, reported
from harness.sandbox._dataplane import DataPlane, ProxyRejectedError
from harness.sandbox._kubeapi import ISTIO_KINDS, KubeApi, kind_of
from harness.sandbox._layout import Layout
from harness.sandbox._statefile import read_state
from harness.sandbox._topology import Topology
from harness.sandbox._workloads import pod_refs

log = logging.getLogger("harness.sandbox.istiod")
Key = tuple[str, str, str]
WATCH_TIMEOUT_S = 60


def key_of(obj: dict[str, Any]) -> Key:
    meta = obj["metadata"]
    return (str(obj["kind"]), str(meta.get("namespace", "")), str(meta["name"]))


def generation_of(obj: dict[str, Any]) -> int:
    return int(obj["metadata"].get("generation") or 1)


class ConfigCache:
    """The Istio objects istiod knows, and a signal raised when what it would push changed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.objects: dict[Key, dict[str, Any]] = {}
        self.changed = threading.Event()
        self.synced_kinds: set[str] = set()

    def replace_kind(self, kind: str, items: list[dict[str, Any]]) -> None:
        with self.lock:
            first = kind not in self.synced_kinds
            old = {k: generation_of(o) for k, o in self.objects.items() if k[0] == kind}
            self.objects = {k: o for k, o in self.objects.items() if k[0] != kind}
            self.objects.update({key_of(o): o for o in items})
            new = {key_of(o): generation_of(o) for o in items}
            self.synced_kinds.add(kind)
        if first or old != new:
            self.changed.set()

    def event(self, kind: str, event_type: str, obj: dict[str, Any]) -> None:
        """Apply a watch event; only a new generation, an addition or a deletion changes the config."""
        obj = {"kind": kind, **obj}
        key = key_of(obj)
        with self.lock:
            before = self.objects.get(key)
            if event_type == "DELETED":
                self.objects.pop(key, None)
            else:
                self.objects[key] = obj
        if event_type == "DELETED" or before is None or generation_of(before) != generation_of(obj):
            self.changed.set()

    def snapshot(self) -> list[dict[str, Any]]:
        with self.lock:
            return [self.objects[k] for k in sorted(self.objects)]


class Watcher(threading.Thread):
    """List, then watch one kind across namespaces; re-list on 410 Gone or a broken watch."""

    def __init__(self, api: KubeApi, kind: str, on_list: Any, on_event: Any) -> None:
        super().__init__(name=f"watch-{kind}", daemon=True)
        self.api, self.kind, self.on_list, self.on_event = api, kind, on_list, on_event

    def run(self) -> None:
        while True:
            try:
                self.on_list(self.kind, *self._list())
                self._watch(self._resource_version)
            except Exception as exc:  # 410 Gone, a closed stream, the API restarting: list again
                log.info("watch of %s ended (%s); listing again", self.kind, exc)
                time.sleep(0.2)

    def _list(self) -> tuple[list[dict[str, Any]]]:
        answer = self.api.request("GET", kind_of(self.kind).path())
        self._resource_version = str(answer["metadata"]["resourceVersion"])
        return ([{"kind": self.kind, **item} for item in answer.get("items") or []],)

    def _watch(self, resource_version: str) -> None:
        from kubernetes import client, watch

        info = kind_of(self.kind)
        if info.group:
            func: Any = client.CustomObjectsApi(self.api.api_client).list_cluster_custom_object
            args: tuple[Any, ...] = (info.group, info.version, info.plural)
        else:
            func, args = client.CoreV1Api(self.api.api_client).list_pod_for_all_namespaces, ()
        while True:
            stream = watch.Watch().stream(func, *args, resource_version=resource_version,
                                          timeout_seconds=WATCH_TIMEOUT_S, allow_watch_bookmarks=True)
            for event in stream:
                obj = event["raw_object"]
                resource_version = str(obj["metadata"]["resourceVersion"])
                if event["type"] != "BOOKMARK":
                    self.on_event(self.kind, event["type"], obj)


class Istiod:
    """Pushes the cached config to the data plane and reports what each proxy and object has."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.state_dir = Path(config["state_dir"])
        state = read_state(self.state_dir) or {}
        self.topology = Topology.model_validate(state["topology"])
        self.layout = Layout.from_dict(state["layout"])
        self.data_plane = DataPlane(self.state_dir, self.topology, self.layout)
        self.api = KubeApi.from_kubeconfig(Path(config["kubeconfig"]), config["context"])
        self.push_delay_s = float(config["push_delay_s"])
        self.cache = ConfigCache()
        self.version = 0
        self.nacks: dict[str, str] = {}
        self.good: list[dict[str, Any]] = []
        self.pushed_once = threading.Event()
        self.last_changed: dict[str, list[str]] = {}  # per proxy, the xDS resources the last push rewrote
        self.pods = _pods_by_proxy(self.layout)

    def on_pod(self, kind: str, event_type: str, obj: dict[str, Any]) -> None:
        """A restarted pod's Envoy starts from files; a resync push confirms it serves them."""
        if event_type == "MODIFIED":
            self.cache.changed.set()

    def run(self, stop: threading.Event) -> None:
        for kind in ISTIO_KINDS:
            Watcher(self.api, kind, self.cache.replace_kind, self.cache.event).start()
        Watcher(self.api, "Pod", lambda *_: None, self.on_pod).start()
        while not stop.is_set():
            if not self.cache.changed.wait(0.2) or len(self.cache.synced_kinds) < len(ISTIO_KINDS):
                continue
            self.cache.changed.clear()
            if self.pushed_once.is_set():
                self._mark_propagating(self.cache.snapshot())
                stop.wait(self.push_delay_s)  # later changes ride along in the same push
                self.cache.changed.clear()
            self.push(self.cache.snapshot())
            self.pushed_once.set()

    def push(self, objects: list[dict[str, Any]]) -> None:
        try:
            result = self.data_plane.push(objects)
        except HarnessError as exc:
            self._rejected(objects, exc)
            return
        self.version += 1
        self.last_changed = result.changed
        self.nacks = {}
        self.good = objects
        self._write_status(objects, reconciled_status, len(self.layout.proxies))
        log.info("push %d: %d objects in every proxy", self.version, len(objects))

    def _rejected(self, objects: list[dict[str, Any]], exc: HarnessError) -> None:
        """Put the previous config back everywhere, then say on the new objects why they do not serve."""
        proxy = exc.proxy if isinstance(exc, ProxyRejectedError) else "istiod"
        self.nacks = {proxy: exc.message}
        log.warning("push rejected by %s: %s", proxy, exc.message)
        self.data_plane.push(self.good)
        good = {key_of(o): generation_of(o) for o in self.good}
        changed = [o for o in objects if good.get(key_of(o)) != generation_of(o)]
        total = len(self.layout.proxies)
        for obj in changed:
            self._patch(obj, reconciled_status(generation_of(obj), total - 1, total, reason=REJECTED,
                                               detail=exc.message))

    def _mark_propagating(self, objects: list[dict[str, Any]]) -> None:
        total = len(self.layout.proxies)
        for obj in objects:
            seen = reported(obj)
            if seen is None or seen[0] != generation_of(obj):
                self._patch(obj, reconciled_status(generation_of(obj), 0, total))

    def _write_status(self, objects: list[dict[str, Any]], build: Any, total: int) -> None:
        for obj in objects:
            if reported(obj) != (generation_of(obj), "True/"):
                self._patch(obj, build(generation_of(obj), total, total))

    def _patch(self, obj: dict[str, Any], status: dict[str, Any]) -> None:
        try:
            self.api.patch_status(obj, status)
        except HarnessError as exc:  # deleted meanwhile: its DELETED event comes next
            log.info("status of %s %s not written: %s", obj["kind"], obj["metadata"]["name"], exc.message)

    def syncz(self) -> dict[str, Any]:
        proxies = proxy_sync(self.state_dir, self.layout, self.pods, self.version, self.nacks)
        return {"version": self.version, "ready": self.pushed_once.is_set(), "last_changed": self.last_changed,
                "proxies": [p.to_dict() for p in proxies]}


def _pods_by_proxy(layout: Layout) -> dict[str, str]:
    pods: dict[str, list[str]] = {}
    for ref in pod_refs(layout):
        if ref.proxy:
            pods.setdefault(ref.proxy, []).append(ref.name)
    return {proxy: ",".join(names) for proxy, names in pods.items()}


def serve_syncz(istiod: Istiod, port: int) -> ThreadingHTTPServer:
    """``/debug/syncz`` (per-proxy sync status) and ``/ready`` (the first push is done)."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path == "/ready":
                code, body = (200, b"ok") if istiod.pushed_once.is_set() else (503, b"not yet pushed")
            elif self.path == "/debug/syncz":
                code, body = 200, json.dumps(istiod.syncz()).encode()
            else:
                code, body = 404, b"not found"
            self.send_response(code)
            self.send_header("content-type", "application/json" if code == 200 else "text/plain")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with open(sys.argv[1]) as handle:
        config = json.load(handle)
    istiod = Istiod(config)
    serve_syncz(istiod, int(config["port"]))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    istiod.run(stop)


if __name__ == "__main__":
    main()
