"""The embedded mesh sandbox: start, find, change and stop it.

``Sandbox.start`` validates the topology and Istio YAML first (nothing starts on bad input), then
starts demo services, per-workload Envoys, the telemetry exporter and Prometheus, detached, and
records every PID in ``state.json`` so ``Sandbox.attach(...).stop()`` works from any process.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness._net import http_get, http_json
from harness._process import ChildProcess, ProcessRecord, is_running, start_process, stop_process, wait_until
from harness.errors import ConfigRejectedError, SandboxError, SandboxNotRunning
from harness.istio import load_istio
from harness.sandbox._dataplane import DataPlane, PushResult
from harness.sandbox._envoy import proxy_paths, start_envoy, wait_envoy_ready, write_bootstrap
from harness.sandbox._layout import Layout, plan_layout
from harness.sandbox._prometheus import prometheus_binary, start_prometheus, wait_first_scrape
from harness.sandbox._store import MeshStore
from harness.sandbox._topology import DEFAULT_MESH, Topology, load_topology
from harness.sandbox._translate import Translation, gateway_ports, translate

Progress = Callable[[str], None]
STATE_FILE = "state.json"
GATEWAY_SERVICE_ACCOUNT = "istio-ingressgateway-service-account"


def default_state_dir() -> Path:
    env = os.environ.get("HARNESS_SANDBOX_DIR")
    if env:
        return Path(env)
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "istio-chaos-harness" / "sandbox"


class Sandbox:
    """A running sandbox. Use as a context manager to stop it on exit (if this object started it)."""

    def __init__(self, state_dir: Path, state: dict[str, Any], *, owned: bool = False) -> None:
        self.state_dir = state_dir
        self._state = state
        self._owned = owned
        self.topology = Topology.model_validate(state["topology"])
        self.layout = Layout.from_dict(state["layout"])
        self.data_plane = DataPlane(state_dir, self.topology, self.layout)
        self.mesh = MeshStore(state_dir / "mesh", self._apply)
        self.last_push: PushResult | None = None

    # -- starting and finding ---------------------------------------------------------------

    @classmethod
    def start(
        cls,
        *,
        topology: Path | None = None,
        mesh: Sequence[Path] | None = None,
        state_dir: Path | None = None,
        progress: Progress | None = None,
    ) -> Sandbox:
        """Validate input, start every process, and return once Prometheus has scraped them all."""
        say = progress or (lambda _: None)
        state_dir = (state_dir or default_state_dir()).absolute()
        topo = load_topology(topology)
        istio = load_istio(list(mesh) if mesh else [DEFAULT_MESH])
        prometheus_binary()  # fail before starting anything
        _refuse_if_running(state_dir)
        layout = plan_layout(topo, gateway_ports(topo, istio.resources))
        translation = translate(topo, layout, istio.resources)
        state: dict[str, Any] = {
            "topology": topo.model_dump(mode="json", by_alias=True), "layout": layout.to_dict(),
            "processes": [], "warnings": [str(w) for w in istio.warnings + translation.warnings],
            "gateway_url": f"http://127.0.0.1:{next(iter(layout.gateway.listener_ports.values()))}",
            "prometheus_url": f"http://127.0.0.1:{layout.prometheus_port}",
            "admin_url": layout.gateway.admin_url, "control_url": f"http://127.0.0.1:{layout.control_port}",
            "state_dir": str(state_dir),
        }
        _prepare_state_dir(state_dir)
        sandbox = cls(state_dir, state, owned=True)
        try:
            sandbox._launch(translation, say)
        except BaseException:
            sandbox.stop()
            raise
        sandbox.mesh.seed([r.raw for r in istio.resources])
        return sandbox

    @classmethod
    def attach(cls, state_dir: Path | None = None) -> Sandbox:
        """Find the sandbox running in ``state_dir``; raise SandboxNotRunning if there is none."""
        state_dir = (state_dir or default_state_dir()).absolute()
        state = _read_state(state_dir)
        if state is None:
            raise SandboxNotRunning(f"no sandbox runs in {state_dir}", hint="start one with 'harness sandbox up'")
        return cls(state_dir, state)

    def _launch(self, translation: Translation, say: Progress) -> None:
        logs = self.state_dir / "logs"
        say("starting demo services, Envoy proxies, telemetry and Prometheus")
        services = self._spawn(start_process("services", [sys.executable, "-m", "harness.sandbox._services",
                                                          str(self._write_services_config())],
                                             log_path=logs / "services.log"))
        telemetry = self._spawn(start_process("telemetry", [sys.executable, "-m", "harness.sandbox._telemetry",
                                                            str(self._write_telemetry_config())],
                                              log_path=logs / "telemetry.log"))
        envoys = []
        for proxy in self.layout.proxies:
            paths = proxy_paths(self.state_dir, proxy)
            write_bootstrap(paths, translation.configs[proxy.name])
            envoys.append((proxy, self._spawn(start_envoy(paths, proxy, concurrency=self.topology.proxy_concurrency,
                                                          log_dir=logs))))
        prometheus = self._spawn(start_prometheus(self.layout, self.state_dir / "prometheus", logs))
        wait_until(lambda: http_json(f"{self.control_url}/behaviour") is not None, what="the demo services",
                   deadline_s=15, watch=[services])
        wait_until(lambda: http_get(f"http://127.0.0.1:{self.layout.telemetry_port}/healthz")[0] == 200,
                   what="the telemetry exporter", deadline_s=15, watch=[telemetry])
        for proxy, child in envoys:
            wait_envoy_ready(child, proxy)
        say("waiting for Prometheus's first scrape (about 6 s)")
        wait_first_scrape(prometheus, self.prometheus_url, len(self.layout.proxies) + 1)
        self._state["status"] = "running"
        self._save_state()

    def _spawn(self, child: ChildProcess) -> ChildProcess:
        self._state["processes"].append(child.record.to_dict())
        self._save_state()
        return child

    # -- what users and the runner see --------------------------------------------------------

    @property
    def gateway_url(self) -> str:
        return str(self._state["gateway_url"])

    @property
    def prometheus_url(self) -> str:
        return str(self._state["prometheus_url"])

    @property
    def admin_url(self) -> str:
        return str(self._state["admin_url"])

    @property
    def control_url(self) -> str:
        return str(self._state["control_url"])

    @property
    def warnings(self) -> list[str]:
        return list(self._state.get("warnings", []))

    def admin_url_of(self, proxy: str) -> str:
        """Envoy admin URL of a proxy: the gateway's name or a client workload such as ``frontend-v1``."""
        return self.layout.proxy(proxy).admin_url

    def urls(self) -> dict[str, str]:
        return {"gateway_url": self.gateway_url, "prometheus_url": self.prometheus_url,
                "admin_url": self.admin_url, "state_dir": str(self.state_dir)}

    def processes(self) -> list[ProcessRecord]:
        return [ProcessRecord.from_dict(p) for p in self._state["processes"]]

    def status(self) -> dict[str, Any]:
        processes = self.processes()
        alive = {p.name: is_running(p) for p in processes}
        return {**self.urls(), "running": bool(alive) and all(alive.values()), "processes": alive,
                "proxies": {p.name: p.admin_url for p in self.layout.proxies}}

    # -- changing it ----------------------------------------------------------------------------

    def apply_files(self, paths: Sequence[Path]) -> PushResult:
        """Create or replace the Istio objects in ``paths`` (like ``kubectl apply``)."""
        loaded = load_istio(list(paths))
        for resource in loaded.resources:
            kind, namespace, name = resource.obj.key
            existing = [o for o in self.mesh.list(kind, namespace) if o["metadata"]["name"] == name]
            raw = {k: v for k, v in resource.raw.items() if k != "status"}
            if existing:
                raw.setdefault("metadata", {}).pop("resourceVersion", None)
                self.mesh.replace(raw)
            else:
                self.mesh.create(raw)
        assert self.last_push is not None or not loaded.resources
        return self.last_push or PushResult([], {}, 0.0)

    def _apply(self, objects: list[dict[str, Any]]) -> None:
        previous = self.mesh.list()
        try:
            self.last_push = self.data_plane.push(objects)
        except ConfigRejectedError:
            self.data_plane.push(previous)  # put back the files that describe what still serves
            raise

    def behaviour(self) -> list[dict[str, Any]]:
        return list(http_json(f"{self.control_url}/behaviour"))

    def set_behaviour(
        self, service: str, *, version: str | None = None, replica: int | str | None = None, reset: bool = False,
        latency_ms: float | None = None, error_rate: float | None = None, error_status: int | None = None,
    ) -> list[dict[str, Any]]:
        """Change how replicas answer, at run time: extra latency, a share of errors, their status."""
        values = {"latency_ms": latency_ms, "error_rate": error_rate, "error_status": error_status}
        body = {"service": service, "version": version, "replica": replica, "reset": reset,
                "behaviour": {k: v for k, v in values.items() if v is not None}}
        try:
            return list(http_json(f"{self.control_url}/behaviour", method="POST", body=body))
        except OSError as exc:
            raise SandboxError(f"cannot change behaviour of {service}: {exc}") from None

    # -- stopping -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every recorded process, newest first (TERM, then KILL)."""
        for data in reversed(self._state["processes"]):
            stop_process(ProcessRecord.from_dict(data), timeout_s=5)
        self._state["status"] = "stopped"
        self._save_state()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._owned:
            self.stop()

    # -- files ----------------------------------------------------------------------------------

    def _save_state(self) -> None:
        tmp = self.state_dir / f".{STATE_FILE}.tmp"
        tmp.write_text(json.dumps(self._state, indent=1))
        os.replace(tmp, self.state_dir / STATE_FILE)

    def _write_services_config(self) -> Path:
        replicas = []
        for replica in self.layout.replicas:
            service = self.topology.service(replica.service)
            version = next(v for v in service.versions if v.name == replica.version)
            sidecar = self.layout.sidecar_for(replica.service, replica.version)
            callees = {c.service for e in service.endpoints for c in e.calls}
            egress = {c: sidecar.listener_ports[self.topology.service(c).port] for c in callees} if sidecar else {}
            replicas.append({
                "service": replica.service, "version": replica.version, "index": replica.index,
                "port": replica.port, "egress": egress,
                "endpoints": [e.model_dump(mode="json", by_alias=False) for e in service.endpoints],
                "behaviour": service.behaviour.merged(version.behaviour).model_dump(mode="json"),
            })
        path = self.state_dir / "services.json"
        path.write_text(json.dumps({"replicas": replicas, "control_port": self.layout.control_port}, indent=1))
        return path

    def _write_telemetry_config(self) -> Path:
        hosts = {f"127.0.0.1:{r.port}": {"workload": r.workload, "app": r.service, "version": r.version,
                                         "namespace": self.layout.namespace} for r in self.layout.replicas}
        proxies = [{"name": p.name, "kind": p.kind, "workload": p.workload, "app": p.app, "version": p.version,
                    "namespace": p.namespace,
                    "service_account": GATEWAY_SERVICE_ACCOUNT if p.kind == "gateway" else p.app,
                    "access_log": str(proxy_paths(self.state_dir, p).access_log)} for p in self.layout.proxies]
        path = self.state_dir / "telemetry.json"
        path.write_text(json.dumps({"port": self.layout.telemetry_port, "hosts": hosts, "proxies": proxies}, indent=1))
        return path


def _read_state(state_dir: Path) -> dict[str, Any] | None:
    try:
        state = json.loads((state_dir / STATE_FILE).read_text())
    except (OSError, ValueError):
        return None
    if state.get("status") == "stopped":
        return None
    return dict(state)


def _refuse_if_running(state_dir: Path) -> None:
    state = _read_state(state_dir)
    if state and any(is_running(ProcessRecord.from_dict(p)) for p in state.get("processes", [])):
        raise SandboxError(f"a sandbox already runs in {state_dir} (gateway {state.get('gateway_url')})",
                           hint="stop it with 'harness sandbox down', or pass another --state-dir")


def _prepare_state_dir(state_dir: Path) -> None:
    """Start clean: old xDS files, access logs and TSDB from a previous sandbox must not leak in."""
    import shutil

    for sub in ("envoy", "access", "prometheus", "mesh", "logs"):
        shutil.rmtree(state_dir / sub, ignore_errors=True)
    state_dir.mkdir(parents=True, exist_ok=True)


