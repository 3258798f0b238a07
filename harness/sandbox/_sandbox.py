"""The embedded mesh sandbox, a small cluster: start, find, change and stop it.

``Sandbox.start`` validates the topology and Istio YAML first (nothing starts on bad input), then
starts, detached: the Kubernetes API server (seeded with namespaces, RBAC, Services, Endpoints,
Deployments, Pods and the Istio objects), demo services, per-workload Envoys, the telemetry
exporter, Prometheus (scraping every ``scrape_interval_s``, 15 s by default as clusters do) and
istiod (watching the API and pushing to the Envoys ``push_delay_s`` after a change), and with
``alertmanager=True`` an Alertmanager fed by Prometheus's alert rules. Every PID is
recorded in ``state.json`` so ``Sandbox.attach(...).stop()`` works from any process. The harness
reaches it like any cluster: ``kubeconfig_path`` with the context ``harness_context``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from harness._net import free_ports, http_get, http_json
from harness._process import ChildProcess, ProcessRecord, is_running, start_process, stop_process, wait_until
from harness.errors import SandboxError, SandboxNotRunning
from harness.istio import load_istio
from harness.sandbox._alertmanager import (
    alertmanager_binary,
    apply_alerting,
    check_rule_files,
    default_rule_files,
    start_alertmanager,
    wait_alertmanager_ready,
)
from harness.sandbox._cluster import (
    ADMIN_CONTEXT,
    CONTEXT,
    KUBECONFIG,
    seed_cluster,
    start_api_server,
    wait_api_server,
    write_sandbox_kubeconfig,
)
from harness.sandbox._control import SandboxControl
from harness.sandbox._envoy import proxy_paths, start_envoy, wait_envoy_ready, write_bootstrap
from harness.sandbox._istio_config import ApplyResult, IstioConfig, admin_config
from harness.sandbox._kubeapi import KubeApi
from harness.sandbox._layout import Layout, plan_layout
from harness.sandbox._prometheus import prometheus_binary, start_prometheus, wait_first_scrape
from harness.sandbox._statefile import read_state, write_state
from harness.sandbox._topology import DEFAULT_MESH, Topology, load_topology
from harness.sandbox._translate import Translation, gateway_ports, translate

Progress = Callable[[str], None]
DEFAULT_SCRAPE_INTERVAL_S = 15.0  # what clusters use (kube-prometheus-stack, Istio's sample Prometheus)
DEFAULT_PUSH_DELAY_S = 1.0        # istiod's debounce (PILOT_DEBOUNCE_AFTER 100 ms, up to 10 s under churn) plus push
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
        self._istio: IstioConfig | None = None

    # -- starting and finding ---------------------------------------------------------------

    @classmethod
    def start(
        cls,
        *,
        topology: Path | None = None,
        mesh: Sequence[Path] | None = None,
        state_dir: Path | None = None,
        progress: Progress | None = None,
        scrape_interval_s: float = DEFAULT_SCRAPE_INTERVAL_S,
        push_delay_s: float = DEFAULT_PUSH_DELAY_S,
        alertmanager: bool = False,
        alert_rules: Sequence[Path] | None = None,
    ) -> Sandbox:
        """Validate input, start every process, and return once istiod pushed and Prometheus scraped them all."""
        say = progress or (lambda _: None)
        state_dir = (state_dir or default_state_dir()).absolute()
        topo = load_topology(topology)
        istio = load_istio(list(mesh) if mesh else [DEFAULT_MESH])
        prometheus_binary()  # fail before starting anything
        rules = _alerting_input(alert_rules) if alertmanager else []
        _refuse_if_running(state_dir)
        if not 0.2 <= scrape_interval_s <= 300:
            raise SandboxError(f"scrape interval {scrape_interval_s:g}s is out of range", hint="use 0.2 to 300 seconds")
        if not 0 <= push_delay_s <= 60:
            raise SandboxError(f"push delay {push_delay_s:g}s is out of range", hint="use 0 to 60 seconds")
        layout = plan_layout(topo, gateway_ports(topo, istio.resources))
        translation = translate(topo, layout, istio.resources)
        state: dict[str, Any] = {
            "topology": topo.model_dump(mode="json", by_alias=True), "layout": layout.to_dict(),
            "processes": [], "warnings": [str(w) for w in istio.warnings + translation.warnings],
            "gateway_url": f"http://127.0.0.1:{next(iter(layout.gateway.listener_ports.values()))}",
            "prometheus_url": f"http://127.0.0.1:{layout.prometheus_port}",
            "admin_url": layout.gateway.admin_url, "control_url": f"http://127.0.0.1:{layout.control_port}",
            "state_dir": str(state_dir), "scrape_interval_s": scrape_interval_s, "push_delay_s": push_delay_s,
            "istiod_url": f"http://127.0.0.1:{free_ports(1)[0]}",
            "kubeconfig": str(state_dir / KUBECONFIG),
        }
        _prepare_state_dir(state_dir)
        sandbox = cls(state_dir, state, owned=True)
        try:
            sandbox._launch(translation, [r.raw for r in istio.resources], say)
            if alertmanager:
                sandbox.enable_alerting(rules, progress=say)
        except BaseException:
            sandbox.stop()
            raise
        return sandbox

    @classmethod
    def attach(cls, state_dir: Path | None = None) -> Sandbox:
        """Find the sandbox running in ``state_dir``; raise SandboxNotRunning if there is none."""
        state_dir = (state_dir or default_state_dir()).absolute()
        state = _running_state(state_dir)
        if state is None:
            raise SandboxNotRunning(f"no sandbox runs in {state_dir}", hint="start one with 'harness sandbox up'")
        return cls(state_dir, state)

    def _launch(self, translation: Translation, istio: list[dict[str, Any]], say: Progress) -> None:
        logs = self.state_dir / "logs"
        say("starting the API server, demo services, Envoy proxies, telemetry and Prometheus")
        api_child, ready_file, admin_token = start_api_server(self.state_dir, logs)
        self._spawn(api_child)
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
        prometheus = self._spawn(start_prometheus(self.layout, self.state_dir / "prometheus", logs,
                                                  scrape_interval_s=self.scrape_interval_s))
        endpoint = wait_api_server(api_child, ready_file, admin_token)
        self._state["api_url"] = endpoint.url
        admin = KubeApi.connect(endpoint.url, endpoint.ca_cert, admin_token)
        try:
            say("seeding the cluster: namespaces, RBAC, workloads and the Istio config")
            harness_token = seed_cluster(admin, self.topology, self.layout, istio)
        finally:
            admin.close()
        write_sandbox_kubeconfig(self.state_dir, endpoint, harness_token, self.topology.namespace)
        self._save_state()
        wait_until(lambda: http_json(f"{self.control_url}/behaviour") is not None, what="the demo services",
                   deadline_s=15, watch=[services])
        wait_until(lambda: http_get(f"http://127.0.0.1:{self.layout.telemetry_port}/healthz")[0] == 200,
                   what="the telemetry exporter", deadline_s=15, watch=[telemetry])
        for proxy, child in envoys:
            wait_envoy_ready(child, proxy)
        self._save_state()  # istiod reads the layout and URLs from state.json
        istiod = self._spawn(self._start_istiod(logs))
        wait_until(lambda: http_get(f"{self.istiod_url}/ready")[0] == 200, what="istiod's first push",
                   deadline_s=30, watch=[istiod])
        say(f"waiting for Prometheus's first scrape (scrape interval {self.scrape_interval_s:g}s)")
        wait_first_scrape(prometheus, self.prometheus_url, len(self.layout.proxies) + 1,
                          deadline_s=30 + 2 * self.scrape_interval_s)
        self._state["status"] = "running"
        self._save_state()

    def _start_istiod(self, logs: Path) -> ChildProcess:
        port = int(self.istiod_url.rsplit(":", 1)[1])
        config = {"state_dir": str(self.state_dir), "kubeconfig": str(self.kubeconfig_path), "context": ADMIN_CONTEXT,
                  "push_delay_s": self._state["push_delay_s"], "port": port}
        path = self.state_dir / "istiod.json"
        path.write_text(json.dumps(config, indent=1))
        return start_process("istiod", [sys.executable, "-m", "harness.sandbox._istiod", str(path)],
                             log_path=logs / "istiod.log")

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
    def kubeconfig_path(self) -> Path:
        """The sandbox cluster's kubeconfig: contexts "sandbox" (the harness's ServiceAccount) and "sandbox-admin"."""
        return Path(self._state.get("kubeconfig") or self.state_dir / KUBECONFIG)

    @property
    def harness_context(self) -> str:
        return CONTEXT

    @property
    def admin_context(self) -> str:
        return ADMIN_CONTEXT

    @property
    def alertmanager_url(self) -> str | None:
        """The sandbox's Alertmanager (None unless started with alertmanager=True or enable_alerting)."""
        url = self._state.get("alertmanager_url")
        return str(url) if url else None

    def enable_alerting(self, rules: Sequence[Path] | None = None, *, progress: Progress | None = None) -> str:
        """Start Alertmanager (once) and have Prometheus evaluate ``rules`` and send it their alerts; return its URL.

        ``rules`` defaults to the demo shop's example (deploy/prometheus/shop-alerts.rules.yml). Works on a
        running sandbox too: Prometheus reloads its config, nothing else restarts.
        """
        say = progress or (lambda _: None)
        rule_files = _alerting_input(rules)
        url = self.alertmanager_url
        if url is None:
            say("starting Alertmanager")
            port = free_ports(1)[0]
            child = self._spawn(start_alertmanager(self.state_dir / "alertmanager", port, self.state_dir / "logs"))
            url = f"http://127.0.0.1:{port}"
            wait_alertmanager_ready(child, url)
            self._state["alertmanager_url"] = url
        say(f"Prometheus evaluates {', '.join(p.name for p in rule_files)} and sends alerts to Alertmanager")
        copies = apply_alerting(self.layout, self.state_dir / "prometheus", self.prometheus_url,
                                scrape_interval_s=self.scrape_interval_s, alertmanager_port=int(url.rsplit(":", 1)[1]),
                                rule_files=rule_files)
        self._state["alert_rules"] = [str(p) for p in copies]
        self._save_state()
        return url

    @property
    def istiod_url(self) -> str:
        return str(self._state["istiod_url"])

    @property
    def scrape_interval_s(self) -> float:
        return float(self._state.get("scrape_interval_s") or DEFAULT_SCRAPE_INTERVAL_S)

    @property
    def push_delay_s(self) -> float:
        return float(self._state.get("push_delay_s", DEFAULT_PUSH_DELAY_S))

    @property
    def istio(self) -> IstioConfig:
        """The cluster's Istio objects through an admin client; writes return once every proxy has them."""
        if self._istio is None:
            self._istio = admin_config(self.state_dir, self.istiod_url)
        return self._istio

    @property
    def control(self) -> SandboxControl:
        """Sandbox-only knobs: real upstream failures, pod restarts, istiod's sync status."""
        return SandboxControl(self.state_dir)

    @property
    def warnings(self) -> list[str]:
        return list(self._state.get("warnings", []))

    def admin_url_of(self, proxy: str) -> str:
        """Envoy admin URL of a proxy: the gateway's name or a client workload such as ``frontend-v1``."""
        return self.layout.proxy(proxy).admin_url

    def urls(self) -> dict[str, str]:
        return {"gateway_url": self.gateway_url, "prometheus_url": self.prometheus_url,
                "admin_url": self.admin_url, "kubeconfig": str(self.kubeconfig_path),
                "api_url": str(self._state.get("api_url", "")), "state_dir": str(self.state_dir),
                **({"alertmanager_url": self.alertmanager_url} if self.alertmanager_url else {})}

    def processes(self) -> list[ProcessRecord]:
        current = read_state(self.state_dir) or self._state  # a pod restart replaces a record
        return [ProcessRecord.from_dict(p) for p in current["processes"]]

    def status(self) -> dict[str, Any]:
        processes = self.processes()
        alive = {p.name: is_running(p) for p in processes}
        return {**self.urls(), "running": bool(alive) and all(alive.values()), "processes": alive,
                "proxies": {p.name: p.admin_url for p in self.layout.proxies}}

    # -- changing it ----------------------------------------------------------------------------

    def apply_files(self, paths: Sequence[Path]) -> ApplyResult:
        """Create or update the Istio objects in ``paths`` (like ``kubectl apply``); return once pushed."""
        loaded = load_istio(list(paths))
        return self.istio.apply([r.raw for r in loaded.resources])

    def behaviour(self) -> list[dict[str, Any]]:
        return self.control.behaviour()

    def set_behaviour(
        self, service: str, *, version: str | None = None, replica: int | str | None = None, reset: bool = False,
        latency_ms: float | None = None, error_rate: float | None = None, error_status: int | None = None,
    ) -> list[dict[str, Any]]:
        """Change how replicas answer, at run time: extra latency, a share of errors, their status."""
        return self.control.set_behaviour(service, version=version, replica=replica, reset=reset,
                                          latency_ms=latency_ms, error_rate=error_rate, error_status=error_status)

    # -- stopping -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every recorded process, newest first (TERM, then KILL)."""
        for record in reversed(self.processes()):
            stop_process(record, timeout_s=5)
        if self._istio is not None:
            self._istio.api.close()
            self._istio = None
        self._state = {**(read_state(self.state_dir) or self._state), "status": "stopped"}
        self._save_state()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._owned:
            self.stop()

    # -- files ----------------------------------------------------------------------------------

    def _save_state(self) -> None:
        write_state(self.state_dir, self._state)

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


def _alerting_input(rules: Sequence[Path] | None) -> list[Path]:
    """Alertmanager on PATH and readable rule files, checked before any process starts."""
    alertmanager_binary()
    return check_rule_files(list(rules) if rules else default_rule_files())


def _running_state(state_dir: Path) -> dict[str, Any] | None:
    state = read_state(state_dir)
    if state is None or state.get("status") == "stopped":
        return None
    return state


def _refuse_if_running(state_dir: Path) -> None:
    state = _running_state(state_dir)
    if state and any(is_running(ProcessRecord.from_dict(p)) for p in state.get("processes", [])):
        raise SandboxError(f"a sandbox already runs in {state_dir} (gateway {state.get('gateway_url')})",
                           hint="stop it with 'harness sandbox down', or pass another --state-dir")


def _prepare_state_dir(state_dir: Path) -> None:
    """Start clean: old xDS files, access logs and TSDB from a previous sandbox must not leak in."""
    import shutil

    for sub in ("envoy", "access", "prometheus", "mesh", "logs", "api", "alertmanager"):
        shutil.rmtree(state_dir / sub, ignore_errors=True)
    state_dir.mkdir(parents=True, exist_ok=True)


