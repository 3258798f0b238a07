"""Istio standard metrics built from Envoy access logs, for an Envoy that lacks Istio's stats filter.

Run as ``python -m harness.sandbox._telemetry CONFIG.json``. Tails each proxy's access log and
serves ``istio_requests_total`` and ``istio_request_duration_milliseconds`` on ``/metrics`` with
the labels a client-side (``reporter="source"``) istio-proxy would write. Requests that never
reached a host (FI aborts, UO overflow, UH) get an ``unknown`` destination workload, as in
istio/istio#21923. See the semantics reference §C.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from collections.abc import Iterator
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
        self.requests: dict[tuple[str, ...], int] = {}
        self.durations: dict[tuple[str, ...], list[float]] = {}  # buckets..., sum, count
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
        with self.lock:
            self.requests[labels] = self.requests.get(labels, 0) + 1
            hist = self.durations.get(labels)
            if hist is None:
                hist = self.durations[labels] = [0.0] * (len(DURATION_BUCKETS_MS) + 2)
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

    def exposition(self) -> str:
        with self.lock:
            requests = dict(self.requests)
            durations = {k: list(v) for k, v in self.durations.items()}
        out = ["# TYPE istio_requests_total counter"]
        out += [f"istio_requests_total{{{_render(labels)}}} {count}" for labels, count in requests.items()]
        out.append("# TYPE istio_request_duration_milliseconds histogram")
        for labels, hist in durations.items():
            rendered = _render(labels)
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


def _render(labels: tuple[str, ...]) -> str:
    return ",".join(f'{name}="{_escape(value)}"' for name, value in zip(LABELS, labels, strict=True))


def follow(path: Path, stop: threading.Event) -> Iterator[str | None]:
    """Yield complete lines appended to ``path``; yield None when idle so callers can check ``stop``."""
    offset, partial = 0, ""
    while not stop.is_set():
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                handle.seek(offset)
                chunk = handle.read()
                offset = handle.tell()
        except FileNotFoundError:
            chunk = ""
        if not chunk:
            yield None
            continue
        lines = (partial + chunk).split("\n")
        partial = lines.pop()
        yield from lines


def tail_all(aggregator: Aggregator, proxies: list[dict[str, str]], stop: threading.Event) -> None:
    followers = [(proxy, follow(Path(proxy["access_log"]), stop)) for proxy in proxies]
    while not stop.is_set():
        idle = True
        for proxy, lines in followers:
            for line in lines:
                if line is None:
                    break
                idle = False
                if line:
                    aggregator.record(proxy, line)
        if idle:
            time.sleep(0.1)


def serve(config: dict[str, Any]) -> None:
    aggregator = Aggregator(config)
    stop = threading.Event()

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

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", config["port"]), Handler)
    server.daemon_threads = True
    threading.Thread(target=tail_all, args=(aggregator, config["proxies"], stop), daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=server.shutdown).start())
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever(poll_interval=0.2)
    stop.set()


def main() -> None:
    with open(sys.argv[1]) as handle:
        serve(json.load(handle))


if __name__ == "__main__":
    main()
