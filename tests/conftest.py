"""Shared fixtures: a real sandbox (Envoy + Prometheus) per test session, and small HTTP helpers."""

from __future__ import annotations

import http.client
import json
import shutil
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

needs_prometheus = pytest.mark.skipif(shutil.which("prometheus") is None, reason="prometheus is not on PATH")


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


class Client:
    """A keep-alive HTTP/1.1 client for the sandbox gateway (stdlib only, bounded by the caller)."""

    def __init__(self, base_url: str) -> None:
        parsed = urllib.parse.urlparse(base_url)
        self.host, self.port = parsed.hostname or "127.0.0.1", parsed.port or 80
        self._conn: http.client.HTTPConnection | None = None

    def get(self, path: str = "/", *, host: str | None = None, headers: dict[str, str] | None = None,
            timeout_s: float = 10) -> Reply:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout_s)
        all_headers = {**(headers or {})}
        if host:
            all_headers["Host"] = host
        started = time.perf_counter()
        try:
            self._conn.request("GET", path, headers=all_headers)
            response = self._conn.getresponse()
            body = response.read()
        except (OSError, http.client.HTTPException):
            self._conn.close()
            self._conn = None
            raise
        reply = Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, body,
                      time.perf_counter() - started)
        if response.getheader("connection", "").lower() == "close":
            self._conn.close()
            self._conn = None
        return reply

    def many(self, count: int, path: str = "/", **kwargs: Any) -> list[Reply]:
        return [self.get(path, **kwargs) for _ in range(count)]


def parallel(base_url: str, count: int, path: str = "/", **kwargs: Any) -> list[Reply]:
    """Send ``count`` requests at once, each on its own connection."""
    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(lambda _: Client(base_url).get(path, **kwargs), range(count)))


def docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


def envoy_stats(admin_url: str, pattern: str) -> dict[str, int]:
    """Counters from an Envoy admin whose names match ``pattern`` (a regex)."""
    query = urllib.parse.urlencode({"filter": pattern})
    with urllib.request.urlopen(f"{admin_url}/stats?{query}", timeout=5) as response:
        lines = response.read().decode().splitlines()
    values = {}
    for line in lines:
        name, _, value = line.partition(": ")
        if value.strip().lstrip("-").isdigit():
            values[name] = int(value)
    return values


def prom_query(prometheus_url: str, query: str) -> list[dict[str, Any]]:
    url = f"{prometheus_url}/api/v1/query?{urllib.parse.urlencode({'query': query})}"
    with urllib.request.urlopen(url, timeout=10) as response:
        return list(json.loads(response.read())["data"]["result"])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The sandbox's API server alone, one per test module (starting one takes about a second)."""
    from tests.cluster import api_cluster

    with api_cluster(tmp_path_factory.mktemp("api")) as running:
        yield running


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One real sandbox (default demo topology) for the whole session."""
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not on PATH (apt-get install -y --no-install-recommends prometheus)")
    from harness.sandbox import Sandbox

    state_dir: Path = tmp_path_factory.mktemp("sandbox")
    # 1 s scrapes and no push delay keep the suite fast; tests/test_cluster_sandbox.py runs at cluster speed
    with Sandbox.start(state_dir=state_dir, scrape_interval_s=1, push_delay_s=0) as running:
        yield running


@pytest.fixture
def demo(sandbox: Any) -> Any:
    """The sandbox with its demo mesh and normal behaviour, as the example experiments expect."""
    for service in ("frontend", "recommendation", "productcatalog", "cart"):
        sandbox.set_behaviour(service, reset=True)
    from harness.istio import load_istio
    from harness.sandbox import DEFAULT_MESH

    sandbox.istio.replace_all([r.raw for r in load_istio([DEFAULT_MESH]).resources])
    return sandbox


def sandbox_target(sandbox: Any) -> Any:
    """The runner's view of a running sandbox, as `harness run` builds it: the Kubernetes path with the
    harness's ServiceAccount token from the sandbox's kubeconfig."""
    from harness.mesh import KubernetesBackend
    from harness.metrics import Prometheus
    from harness.runner import Target
    from harness.suite import SandboxBehaviour

    backend = KubernetesBackend(context=sandbox.harness_context, config_file=str(sandbox.kubeconfig_path))
    return Target(backend, sandbox.gateway_url, Prometheus(sandbox.prometheus_url),
                  scrape_interval_s=sandbox.scrape_interval_s, behaviour=SandboxBehaviour(sandbox),
                  topology=sandbox.topology)


@pytest.fixture
def shop_api(cluster: Any) -> Iterator[Any]:
    """The module's API server holding the demo shop's Istio objects (the sandbox's mesh), emptied afterwards."""
    from harness.istio import load_istio
    from harness.sandbox import DEFAULT_MESH

    for obj in load_istio([DEFAULT_MESH]).resources:
        cluster.put(obj.raw)
    yield cluster
    cluster.fail_next(0)
    for plural in ("virtualservices", "destinationrules", "gateways", "leases"):
        for obj in cluster.list(plural, "shop"):
            cluster.admin.delete(obj["kind"], "shop", obj["metadata"]["name"])


@pytest.fixture
def gateway_stub() -> Iterator[str]:
    """Something answering HTTP (501 to everything) where preflight looks for the ingress gateway."""
    import http.server
    import threading

    server = http.server.HTTPServer(("127.0.0.1", 0), http.server.BaseHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
