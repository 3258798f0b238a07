"""Where an experiment runs: the mesh backend, the gateway, Prometheus, and (on the sandbox) real failures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from harness.experiment import Failure
from harness.mesh import MeshBackend
from harness.metrics import Prometheus


class BehaviourControl(Protocol):
    """Real upstream failures (the sandbox's behaviour knobs)."""

    def snapshot(self) -> object: ...

    def apply(self, failure: Failure) -> None: ...

    def restore(self, snapshot: object) -> None: ...


@dataclass(frozen=True)
class Target:
    """Where an experiment runs: the mesh backend, the gateway, Prometheus."""

    backend: MeshBackend
    gateway_url: str
    prometheus: Prometheus | None
    host_header: str | None = None
    scrape_interval_s: float | None = None  # None: read from Prometheus's targets at preflight
    owner: str = "harness"
    revert_options: str = ""  # how `harness revert` reaches this backend, for error hints
    behaviour: BehaviourControl | None = None
    propagation_deadline_s: float = 30.0  # istiod push to every proxy; a cluster under load takes seconds
    topology: Any = None  # the sandbox's call graph (harness.sandbox.Topology): lint follows calls through it
    alertmanager_url: str | None = None  # --alertmanager-url: beats the experiment's target.alertmanagerUrl
    default_alertmanager_url: str | None = None  # the sandbox's own, or $ALERTMANAGER_URL: when the experiment has none
