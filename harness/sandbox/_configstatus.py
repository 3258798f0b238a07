"""Istio's config status and per-proxy sync status, as the sandbox's istiod reports them.

With ``PILOT_ENABLE_STATUS`` istiod writes onto every config object ``status.observedGeneration`` (an
int64, rendered by protojson as a string) and a ``Reconciled`` condition whose message counts the
proxies that ACKed it (https://istio.io/latest/docs/reference/config/config-status/). Per-proxy state is
what ``istioctl proxy-status`` / istiod's ``/debug/syncz`` show: SYNCED, STALE (sent, not yet ACKed)
or NACK with Envoy's reason.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness.sandbox._api._registry import now_rfc3339
from harness.sandbox._envoy import proxy_paths, read_versions
from harness.sandbox._layout import Layout, Proxy

STILL_PROPAGATING = "stillPropagating"
REJECTED = "ProxyRejected"


def reconciled_status(generation: int, acked: int, total: int, *, reason: str = "", detail: str = "") -> dict[str, Any]:
    """The status istiod writes: True once every proxy ACKed ``generation``; False with a reason before."""
    now = now_rfc3339()
    message = f"{acked}/{total} proxies up to date."
    condition: dict[str, Any] = {"type": "Reconciled", "status": "True" if acked == total and not reason else "False",
                                 "lastProbeTime": now, "lastTransitionTime": now,
                                 "message": f"{message} {detail}".strip()}
    if condition["status"] == "False":
        condition["reason"] = reason or STILL_PROPAGATING
    return {"observedGeneration": str(generation), "conditions": [condition]}


def reported(obj: dict[str, Any]) -> tuple[int, str] | None:
    """(observedGeneration, Reconciled status) already on the object, if istiod wrote one."""
    status = obj.get("status") or {}
    condition = next((c for c in status.get("conditions") or [] if c.get("type") == "Reconciled"), None)
    if condition is None or status.get("observedGeneration") in (None, ""):
        return None
    return int(status["observedGeneration"]), f"{condition.get('status')}/{condition.get('reason', '')}"


@dataclass(frozen=True)
class ProxySync:
    proxy: str
    pod: str
    kind: str
    status: str                  # SYNCED, STALE, NACK
    version: int                 # the push version this proxy serves
    nack: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def files_version(path: Path) -> str | None:
    try:
        return str(json.loads(path.read_text()).get("version_info"))
    except (OSError, ValueError):
        return None


def is_serving_files(state_dir: Path, proxy: Proxy, route_configs: list[str]) -> bool:
    """Does the live Envoy serve the clusters and routes written for it (checked on its admin)?"""
    paths = proxy_paths(state_dir, proxy)
    try:
        live = read_versions(proxy)
    except Exception:  # an Envoy being restarted: not serving anything yet
        return False
    if live.get("cluster_manager.cds.version_text") != files_version(paths.cds):
        return False
    for name in route_configs:
        prefix = f"http.outbound_0.0.0.0_{name.rsplit('.', 1)[-1]}.rds.{name}"
        if live.get(f"{prefix}.version_text") != files_version(paths.rds(name)):
            return False
    return True


def route_configs_of(state_dir: Path, proxy: Proxy) -> list[str]:
    root = proxy_paths(state_dir, proxy).root / "xds"
    return sorted(p.name[len("rds_"):-len(".json")] for p in root.glob("rds_*.json"))


def proxy_sync(state_dir: Path, layout: Layout, pods: dict[str, str], version: int,
               nacks: dict[str, str]) -> list[ProxySync]:
    """Each proxy's state now: NACK (with Envoy's reason) when its last push was refused."""
    result = []
    for proxy in layout.proxies:
        if proxy.name in nacks:
            state = "NACK"
        else:
            state = "SYNCED" if is_serving_files(state_dir, proxy, route_configs_of(state_dir, proxy)) else "STALE"
        result.append(ProxySync(proxy.name, pods.get(proxy.name, ""), proxy.kind, state, version,
                                nacks.get(proxy.name, "")))
    return result
