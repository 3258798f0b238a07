"""Istio standard metrics built from Envoy access logs, for an Envoy that lacks Istio's stats filter.

Run as ``python -m harness.sandbox._telemetry CONFIG.json``. Tails each proxy's access log and
serves ``istio_requests_total`` and ``istio_request_duration_milliseconds`` on ``/metrics`` with
the labels a client-side (``reporter="source"``) istio-proxy would write, plus the ``pod`` label
that a cluster's Prometheus adds from Kubernetes service discovery: one series set per sidecar.
Requests that never reached a host (FI aborts, UO overflow, UH) get an ``unknown`` destination
workload, as in istio/istio#21923. See the semantics reference §C.

A sidecar's stats live in its Envoy: when the sandbox restarts one (``POST /reset``), its series
start again from 0, as a restarted istio-proxy's do.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Envoy's default histogram buckets, which Istio uses for request duration (ms)
DURATION_BUCKETS_MS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000,
                       600000, 1800000, 3600000)
LABELS = (
    "reporter", "source_workload", "source_canonical_service", "source_canonical_revision",
    "source_workload_namespace", "source_principal", "source_app", "source_version", "source_cluster",
    "destination_workload", "destination_workload_namespace", "destination_principal", "destination_app",
    "destination_version", "destination_service", "destination_canonical_service",
    "destination_canonical_revision", "destination_service_name", "destination_service_namespace",
    "destination_cluster", "request_protocol", "response_code", "grpc_response_status", "response_flags",
    "connection_security_policy",
)
UNKNOWN = "unknown"


def principal(namespace: str, account: str) -> str:
    return f"spiffe://cluster.local/ns/{namespace}/sa/{account}"


class Aggregator:
    """Counts requests and duration buckets per Istio label set."""

    def __init__(self, config: dict[str, Any]) -> None:
        self.hosts: dict[str, dict[str, str]] = config["hosts"]
        self.lock = threading.Lock()
        # keyed by (pod, Istio labels): each sidecar exports its own series
        self.requests: dict[tuple[str, tuple[str, ...]], int] = {}
        self.durations: dict[tuple[str, tuple[str, ...]], list[float]] = {}  # buckets..., sum, count
        self._label_cache: dict[tuple[str, ...], tuple[str, ...]] = {}

    def record(self, proxy: dict[str, str], line: str) -> None:
        fields = line.split("\t")
        if len(fields) < 7:
            return
        code, flags, duration, cluster, host, authority = fields[1:7]
        key = (proxy["name"], code, flags, cluster, host, authority)
        labels = self._label_cache.get(key)
        if labels is None:
            labels = self._labels(proxy, code, flags, cluster, host, authority)
            self._label_cache[key] = labels
        duration_ms = float(duration) if duration not in ("", "-") else 0.0
        series = (proxy["name"], labels)
        with self.lock:
            self.requests[series] = self.requests.get(series, 0) + 1
            hist = self.durations.get(series)
            if hist is None:
                hist = self.durations[series] = [0.0] * (len(DURATION_BUCKETS_MS) + 2)
            for i, bound in enumerate(DURATION_BUCKETS_MS):
                if duration_ms <= bound:
                    hist[i] += 1
            hist[-2] += duration_ms
            hist[-1] += 1

    def _labels(self, proxy: dict[str, str], code: str, flags: str, cluster: str, host: str,
                authority: str) -> tuple[str, ...]:
        service = _service_from_cluster(cluster)
        if service is None:
            # no cluster (NR): sidecars fall back to the Host header, gateways do not
            name = authority.split(":")[0] if proxy["kind"] == "sidecar" and authority not in ("", "-") else UNKNOWN
            service = {"host": name, "name": name if name != UNKNOWN else UNKNOWN, "namespace": UNKNOWN}
        dest = self.hosts.get(host)
        values = {
            "reporter": "source",
            "source_workload": proxy["workload"], "source_canonical_service": proxy["app"],
            "source_canonical_revision": proxy["version"] or "latest",
            "source_workload_namespace": proxy["namespace"],
            "source_principal": principal(proxy["namespace"], proxy["service_account"]),
            "source_app": proxy["app"], "source_version": proxy["version"] or UNKNOWN, "source_cluster": "Kubernetes",
            "destination_workload": dest["workload"] if dest else UNKNOWN,
            "destination_workload_namespace": dest["namespace"] if dest else UNKNOWN,
            "destination_principal": principal(dest["namespace"], dest["app"]) if dest else UNKNOWN,
            "destination_app": dest["app"] if dest else UNKNOWN,
            "destination_version": dest["version"] if dest else UNKNOWN,
            "destination_service": service["host"],
            "destination_canonical_service": dest["app"] if dest else UNKNOWN,
            "destination_canonical_revision": dest["version"] if dest else "latest",
            "destination_service_name": service["name"],
            "destination_service_namespace": service["namespace"],
            "destination_cluster": "Kubernetes" if dest else UNKNOWN,
            "request_protocol": "http",
            "response_code": code if code not in ("", "-") else "0",
            "grpc_response_status": "",
            "response_flags": flags if flags else "-",
            "connection_security_policy": UNKNOWN,  # the client side never knows; only reporter=destination does
        }
        return tuple(values[name] for name in LABELS)

    def reset(self, pod: str) -> None:
        """Drop a sidecar's series: its restarted Envoy counts from 0."""
        with self.lock:
            for table in (self.requests, self.durations):
                for series in [k for k in table if k[0] == pod]:
                    del table[series]

    def exposition(self) -> str:
        with self.lock:
            requests = dict(self.requests)
            durations = {k: list(v) for k, v in self.durations.items()}
        out = ["# TYPE istio_requests_total counter"]
        out += [f"istio_requests_total{{{_render(series)}}} {count}" for series, count in requests.items()]
        out.append("# TYPE istio_request_duration_milliseconds histogram")
        for series, hist in durations.items():
            rendered = _render(series)
            for bound, count in zip(DURATION_BUCKETS_MS, hist, strict=False):
                out.append(f'istio_request_duration_milliseconds_bucket{{{rendered},le="{bound:g}"}} {count:g}')
            out.append(f'istio_request_duration_milliseconds_bucket{{{rendered},le="+Inf"}} {hist[-1]:g}')
            out.append(f"istio_request_duration_milliseconds_sum{{{rendered}}} {hist[-2]:g}")
            out.append(f"istio_request_duration_milliseconds_count{{{rendered}}} {hist[-1]:g}")
        return "\n".join(out) + "\n"


def _service_from_cluster(cluster: str) -> dict[str, str] | None:
    parts = cluster.split("|")
    if len(parts) != 4 or parts[0] != "outbound":
        return None
    fqdn = parts[3]
    labels = fqdn.split(".")
    return {"host": fqdn, "name": labels[0], "namespace": labels[1] if len(labels) > 2 else UNKNOWN}


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _render(series: tuple[str, tuple[str, ...]]) -> str:
    pod, labels = series
    return ",".join([f'pod="{_escape(pod)}"']
                    + [f'{name}="{_escape(value)}"' for name, value in zip(LABELS, labels, strict=True)])


class Follower:
    """Reads the complete lines appended to one access log; ``offset`` is how far it has read (bytes)."""

    def __init__(self, path: Path) -> None:
        self.path, self.offset, self._partial = path, 0, b""

    def read_lines(self) -> list[str]:
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self.offset)
                chunk = handle.read()
        except FileNotFoundError:
            return []
        self.offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        return [line.decode("utf-8", errors="replace") for line in lines]

    def caught_up(self) -> bool:
        try:
            return self.offset >= self.path.stat().st_size
        except FileNotFoundError:
            return True


def tail_all(aggregator: Aggregator, followers: dict[str, tuple[dict[str, str], Follower]],
             stop: threading.Event) -> None:
    while not stop.is_set():
        idle = True
        for proxy, follower in followers.values():
            for line in follower.read_lines():
                idle = False
                if line:
                    aggregator.record(proxy, line)
        if idle:
            time.sleep(0.1)


def reset_pod(aggregator: Aggregator, follower: Follower, pod: str, *, deadline_s: float = 5.0) -> None:
    """Once every line the stopped Envoy wrote is counted, start the pod's series again from 0."""
    give_up = time.monotonic() + deadline_s
    while not follower.caught_up() and time.monotonic() < give_up:
        time.sleep(0.05)
    aggregator.reset(pod)


def serve(config: dict[str, Any]) -> None:
    aggregator = Aggregator(config)
    stop = threading.Event()
    followers = {proxy["name"]: (proxy, Follower(Path(proxy["access_log"]))) for proxy in config["proxies"]}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            if self.path.startswith("/metrics"):
                body, status, kind = aggregator.exposition().encode(), 200, "text/plain; version=0.0.4"
            elif self.path == "/healthz":
                body, status, kind = b"ok", 200, "text/plain"
            else:
                body, status, kind = b"not found", 404, "text/plain"
            self.send_response(status)
            self.send_header("content-type", kind)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:  # noqa: N802
            pod = self.path.partition("?pod=")[2] if self.path.startswith("/reset?pod=") else ""
            if pod not in followers:
                self.send_response(404)
                self.end_headers()
                return
            reset_pod(aggregator, followers[pod][1], pod)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", config["port"]), Handler)
    server.daemon_threads = True
    threading.Thread(target=tail_all, args=(aggregator, followers, stop), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.2)
    stop.set()


def main() -> None:
    with open(sys.argv[1]) as handle:
        serve(json.load(handle))


if __name__ == "__main__":
    main()
