"""Push Istio objects to the sandbox's Envoys: translate, write CDS then RDS, confirm each via admin."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness._yamlsource import SourceDocument
from harness.errors import ConfigRejectedError, Problem
from harness.istio import LoadedResource, parse_istio_object
from harness.sandbox._envoy import confirm, proxy_paths, read_versions, write_clusters, write_routes
from harness.sandbox._layout import Layout
from harness.sandbox._topology import Topology
from harness.sandbox._translate import Translation, translate


class ProxyRejectedError(ConfigRejectedError):
    """One Envoy NACKed a push; ``proxy`` names it (the previous config keeps serving there)."""

    def __init__(self, proxy: str, message: str) -> None:
        super().__init__(message)
        self.proxy = proxy


@dataclass(frozen=True)
class PushResult:
    warnings: list[Problem]
    changed: dict[str, list[str]]  # proxy -> ["cds", route config names...]
    seconds: float


def as_loaded(objects: list[dict[str, Any]]) -> list[LoadedResource]:
    """Typed views of stored objects; their "file" is the object's reference, for warnings."""
    loaded = []
    for raw in objects:
        meta = raw.get("metadata") or {}
        label = Path(f"{raw.get('kind')} {meta.get('namespace', 'default')}/{meta.get('name')}")
        source = SourceDocument(label, raw)
        loaded.append(LoadedResource(parse_istio_object(raw, source), source))
    return loaded


class DataPlane:
    def __init__(self, state_dir: Path, topology: Topology, layout: Layout) -> None:
        self.state_dir = state_dir
        self.topology = topology
        self.layout = layout

    def translate(self, objects: list[dict[str, Any]]) -> Translation:
        return translate(self.topology, self.layout, as_loaded(objects))

    def push(self, objects: list[dict[str, Any]]) -> PushResult:
        """Apply ``objects`` everywhere; clusters first so no route points at a missing cluster."""
        started = time.perf_counter()
        translation = self.translate(objects)
        changed: dict[str, list[str]] = {}
        for name, config in translation.configs.items():
            paths = proxy_paths(self.state_dir, config.proxy)
            log = self.state_dir / "logs" / f"envoy-{name}.log"
            before = read_versions(config.proxy)
            try:
                cds_version = write_clusters(paths, config)
                if cds_version:
                    confirm(config.proxy, {"cds": cds_version}, before, log)
                route_versions = write_routes(paths, config)
                if route_versions:
                    confirm(config.proxy, route_versions, before, log)
            except ConfigRejectedError as exc:
                raise ProxyRejectedError(name, exc.message) from None
            if cds_version or route_versions:
                changed[name] = (["cds"] if cds_version else []) + sorted(route_versions)
        return PushResult(translation.warnings, changed, time.perf_counter() - started)
