"""The demo services: every replica of every topology service, in one aiohttp process.

Run as ``python -m harness.sandbox._services CONFIG.json``. Each replica listens on its own port;
its outbound calls go through its workload's sidecar (an Envoy listener) with the ``Host`` of the
callee, and carry the request's trace headers and ``x-chaos-*`` headers, as Istio expects apps to.
A control port changes behaviour (latency, error rate) per service, version or replica at run time.
"""

from __future__ import annotations

import asyncio
import json
import random
import signal
import sys
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web

PROPAGATED = frozenset({
    "x-request-id", "traceparent", "tracestate", "x-b3-traceid", "x-b3-spanid", "x-b3-parentspanid",
    "x-b3-sampled", "x-b3-flags", "b3", "x-ot-span-context", "x-cloud-trace-context", "grpc-trace-bin",
    "x-datadog-trace-id", "x-datadog-parent-id", "x-datadog-sampling-priority", "baggage",
})


@dataclass
class ReplicaState:
    service: str
    version: str
    index: int
    port: int
    egress: dict[str, int]                 # callee service -> sidecar listener port
    endpoints: list[dict[str, Any]]        # [{path, calls: [{service, path, optional, timeoutMs}]}]
    behaviour: dict[str, float] = field(default_factory=dict)
    requests: int = 0
    errors: int = 0
    restarts: int = 0
    initial: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.initial = dict(self.behaviour)

    def restart(self) -> None:
        """What a new container gives: counters from zero and the behaviour it was started with."""
        self.requests = self.errors = 0
        self.behaviour = dict(self.initial)
        self.restarts += 1

    @property
    def name(self) -> str:
        return f"{self.service}-{self.version}-{self.index}"

    def describe(self) -> dict[str, Any]:
        return {"replica": self.name, "service": self.service, "version": self.version, "index": self.index,
                "port": self.port, "behaviour": self.behaviour, "requests": self.requests, "errors": self.errors,
                "restarts": self.restarts}


class DemoServices:
    def __init__(self, config: dict[str, Any]) -> None:
        self.replicas = {r["port"]: ReplicaState(**r) for r in config["replicas"]}
        self.control_port: int = config["control_port"]
        self.session: ClientSession | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        replica = self.replicas[request.transport.get_extra_info("sockname")[1]]  # type: ignore[union-attr]
        replica.requests += 1
        behaviour = replica.behaviour
        if behaviour.get("latency_ms"):
            await asyncio.sleep(behaviour["latency_ms"] / 1000)
        if behaviour.get("error_rate") and random.random() < behaviour["error_rate"]:
            replica.errors += 1
            status = int(behaviour.get("error_status", 503))
            return web.json_response({"error": "failing by sandbox behaviour", "replica": replica.name},
                                     status=status, headers={"x-served-by": replica.name})
        endpoint = _endpoint(replica.endpoints, request.path)
        if endpoint is None:
            return web.json_response({"error": "no such endpoint", "replica": replica.name}, status=404,
                                     headers={"x-served-by": replica.name})
        calls = [await self._call(replica, call, request) for call in endpoint["calls"]]
        failed = [c for c in calls if not c["ok"] and not c["optional"]]
        body = {"service": replica.service, "version": replica.version, "replica": replica.name,
                "path": request.path, "calls": calls, "degraded": any(not c["ok"] for c in calls)}
        if failed:
            replica.errors += 1
        return web.json_response(body, status=500 if failed else 200, headers={"x-served-by": replica.name})

    async def _call(self, replica: ReplicaState, call: dict[str, Any], request: web.Request) -> dict[str, Any]:
        assert self.session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() in PROPAGATED or k.lower().startswith("x-chaos-")}
        headers["Host"] = call["service"]
        url = f"http://127.0.0.1:{replica.egress[call['service']]}{call['path']}"
        result: dict[str, Any] = {"service": call["service"], "path": call["path"], "optional": call["optional"]}
        try:
            async with self.session.get(url, headers=headers,
                                        timeout=ClientTimeout(total=call["timeout_ms"] / 1000)) as response:
                await response.read()
                result.update(status=response.status, ok=response.status < 400)
        except (TimeoutError, ClientError) as exc:
            result.update(status=0, ok=False, error=type(exc).__name__)
        return result

    async def control(self, request: web.Request) -> web.Response:
        if request.method == "POST":
            update = await request.json()
            chosen = [r for r in self.replicas.values() if _selected(r, update)]
            if not chosen:
                return web.json_response({"error": f"no replica matches {update}"}, status=404)
            for replica in chosen:
                if update.get("reset"):
                    replica.behaviour = {}
                replica.behaviour = {**replica.behaviour, **update.get("behaviour", {})}
            return web.json_response([r.describe() for r in chosen])
        return web.json_response([r.describe() for r in self.replicas.values()])

    async def restart(self, request: web.Request) -> web.Response:
        name = (await request.json()).get("replica")
        chosen = [r for r in self.replicas.values() if r.name == name]
        if not chosen:
            return web.json_response({"error": f"no replica {name!r}"}, status=404)
        chosen[0].restart()
        return web.json_response(chosen[0].describe())

    async def run(self) -> None:
        self.session = ClientSession(connector=TCPConnector(limit=0, force_close=False), auto_decompress=False)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        control = web.Application()
        control.router.add_route("*", "/behaviour", self.control)
        control.router.add_post("/restart", self.restart)
        control.router.add_get("/healthz", lambda _: _ok())
        runners = [web.AppRunner(app, access_log=None), web.AppRunner(control, access_log=None)]
        for runner in runners:
            await runner.setup()
        for port in self.replicas:
            await web.TCPSite(runners[0], "127.0.0.1", port, backlog=1024).start()
        await web.TCPSite(runners[1], "127.0.0.1", self.control_port).start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        for runner in runners:
            await runner.cleanup()
        await self.session.close()


async def _ok() -> web.Response:
    return web.Response(text="ok")


def _endpoint(endpoints: list[dict[str, Any]], path: str) -> dict[str, Any] | None:
    """The endpoint whose path equals ``path`` or is its longest parent ("/products" serves "/products/1")."""
    best = None
    for endpoint in endpoints:
        candidate = endpoint["path"]
        if path == candidate:
            return endpoint
        if path.startswith(candidate.rstrip("/") + "/") and (best is None or len(candidate) > len(best["path"])):
            best = endpoint
    return best


def _selected(replica: ReplicaState, update: dict[str, Any]) -> bool:
    return (update.get("service") in (None, replica.service)
            and update.get("version") in (None, replica.version)
            and update.get("replica") in (None, replica.index, replica.name))


def main() -> None:
    with open(sys.argv[1]) as handle:
        config = json.load(handle)
    asyncio.run(DemoServices(config).run())


if __name__ == "__main__":
    main()
