"""Where lint's picture of the mesh comes from: the running sandbox, a cluster, or (no sandbox running) the
sandbox's own demo mesh and topology, read from the files the sandbox starts from.

With no cluster reachable there are no live objects at all; lint then checks the experiment and its policies
alone and says which checks it could not make.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import BackendError, InputError, SandboxNotRunning
from harness.mesh import (
    KubernetesLiveReader,
    LiveMesh,
    MemoryLiveReader,
    MeshObject,
    endpoints_object,
    pod_object,
    read_live,
    service_object,
)

BACKENDS = ("sandbox", "kubernetes")


@dataclass(frozen=True)
class MeshOptions:
    """Command-line choices of target, as ``harness run`` and ``harness inject`` take them."""

    backend: str | None = None        # overrides each experiment's target.backend
    context: str | None = None
    kubeconfig: Path | None = None
    state_dir: Path | None = None


@dataclass(frozen=True)
class MeshSnapshot:
    description: str
    live: LiveMesh | None
    topology: Any = None                  # harness.sandbox.Topology: the call graph, on the sandbox
    scrape_interval_s: float | None = None  # measured: the running sandbox's Prometheus
    notes: tuple[str, ...] = ()


def read_mesh(backend: str, namespace: str, options: MeshOptions) -> MeshSnapshot:
    """The mesh of ``namespace`` on ``backend``; never raises for an unreachable target (lint says so instead)."""
    if backend not in BACKENDS:
        raise InputError(f"unknown backend {backend!r}", [], hint=f"one of: {', '.join(BACKENDS)}")
    if backend == "sandbox":
        return _sandbox(namespace, options)
    return _cluster(namespace, options)


def _sandbox(namespace: str, options: MeshOptions) -> MeshSnapshot:
    from harness.mesh import KubernetesBackend
    from harness.sandbox import Sandbox

    try:
        sandbox = Sandbox.attach(options.state_dir)
    except SandboxNotRunning:
        return demo_mesh(namespace)
    try:
        backend = KubernetesBackend(context=options.context or sandbox.harness_context,
                                    config_file=str(sandbox.kubeconfig_path))
        live = read_live(KubernetesLiveReader(backend), namespace)
    except BackendError as exc:
        return MeshSnapshot(f"the sandbox in {sandbox.state_dir} (unreadable)", None, sandbox.topology,
                            notes=(f"the sandbox's API did not answer ({exc.message}): live objects not checked",))
    return MeshSnapshot(f"the running sandbox ({sandbox.state_dir})", live, sandbox.topology,
                        sandbox.scrape_interval_s, _unread(live))


def _cluster(namespace: str, options: MeshOptions) -> MeshSnapshot:
    from harness.mesh import open_backend

    try:
        backend = open_backend("kubernetes", context=options.context, kubeconfig=options.kubeconfig)
        live = read_live(KubernetesLiveReader(backend), namespace)  # type: ignore[arg-type]
    except BackendError as exc:
        return MeshSnapshot("no cluster", None, notes=(
            f"no cluster reachable ({exc.message}): only the experiment and its policies were checked; the live "
            "VirtualServices, DestinationRules, Gateways, pods and endpoints were not",))
    return MeshSnapshot(f"cluster context {backend.context}", live, notes=_unread(live))


def read_backend_mesh(backend: Any, namespace: str, *, description: str, topology: Any = None,
                      scrape_interval_s: float | None = None) -> MeshSnapshot:
    """The mesh behind an open backend, as a run sees it at preflight; never raises (the note says what failed)."""
    from harness.mesh import KubernetesBackend

    if isinstance(backend, KubernetesBackend):
        reader: Any = KubernetesLiveReader(backend)
    elif isinstance(backend, MemoryLiveReader):
        reader = backend
    else:  # an in-memory backend of unit tests: Istio objects only, no pods or endpoints to read
        return MeshSnapshot(description, None, topology, scrape_interval_s,
                            notes=(f"{type(backend).__name__} serves no pods or endpoints: live objects not checked",))
    try:
        live = read_live(reader, namespace)
    except BackendError as exc:
        return MeshSnapshot(f"{description} (unreadable)", None, topology, scrape_interval_s, notes=(
            f"the live objects could not be read ({exc.message}): only the experiment and its policies were checked",))
    return MeshSnapshot(description, live, topology, scrape_interval_s, _unread(live))


def _unread(live: LiveMesh) -> tuple[str, ...]:
    notes = [f"not read: {what}; the checks that need it were skipped" for what in live.unread]
    if not live.cluster_wide:
        notes.append(f"Istio objects outside namespace {live.namespace} were not read (the credentials list "
                     f"{live.namespace} only)")
    return tuple(notes)


def demo_mesh(namespace: str) -> MeshSnapshot:
    """The sandbox's demo mesh as the running sandbox would serve it, from its files (no sandbox needed)."""
    from harness.sandbox import load_topology

    topology = load_topology()
    if topology.namespace != namespace:  # another sandbox topology (e.g. experiments/matrix): the demo says nothing
        return MeshSnapshot("no sandbox running", None, notes=(
            f"no sandbox running, and namespace {namespace} is not the demo mesh's ({topology.namespace}): only the "
            "experiment and its policies were checked; start its sandbox (harness sandbox up --topology ...) to "
            "check the live objects",))
    return MeshSnapshot("the sandbox's demo mesh (no sandbox running)", read_live(demo_reader(topology), namespace),
                        topology, notes=("no sandbox running: checked against the sandbox's demo mesh and topology "
                                         "(harness/sandbox/demo), as `harness sandbox up` starts it",))


def demo_reader(topology: Any, *, objects: Iterable[MeshObject] = (), namespace_labels: Mapping[str, str] | None = None,
                without_sidecar: Collection[str] = (), service_labels: Mapping[str, Mapping[str, str]] | None = None,
                http_routes: Iterable[MeshObject] | None = None) -> MemoryLiveReader:
    """The demo mesh's Istio objects, plus pods, endpoints and services as the sandbox seeds them
    (harness/sandbox/_workloads.py: client workloads get a sidecar); the keywords change it (for tests)."""
    from harness.istio import load_istio
    from harness.sandbox import DEFAULT_MESH

    pods, endpoints, services = [], [], []
    for service in topology.services:
        sidecar = any(e.calls for e in service.endpoints) and service.name not in without_sidecar
        names = []
        for version in service.versions:
            for index in range(version.replicas):
                names.append(f"{service.name}-{version.name}-{index}")
                pods.append(pod_object(names[-1], topology.namespace, {"app": service.name, "version": version.name},
                                       sidecar=sidecar))
        endpoints.append(endpoints_object(service.name, topology.namespace, names))
        services.append(service_object(service.name, topology.namespace, (service_labels or {}).get(service.name)))
    istio = [r.raw for r in load_istio([DEFAULT_MESH]).resources] + list(objects)
    labels = {"istio-injection": "enabled"} if namespace_labels is None else namespace_labels
    return MemoryLiveReader(istio, namespaces={topology.namespace: labels}, pods=pods, endpoints=endpoints,
                            services=services, http_routes=http_routes)
