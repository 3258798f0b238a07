"""Backends by name, from one place. Both names reach a Kubernetes API; "sandbox" finds the embedded one."""

from __future__ import annotations

from pathlib import Path

from harness.errors import InputError
from harness.mesh._backend import MeshBackend

BACKENDS = ("sandbox", "kubernetes")


def open_backend(name: str, *, context: str | None = None, kubeconfig: Path | None = None,
                 state_dir: Path | None = None) -> MeshBackend:
    if name == "kubernetes":
        from harness.mesh._kubernetes_backend import KubernetesBackend

        return KubernetesBackend(context=context, config_file=str(kubeconfig) if kubeconfig else None)
    if name == "sandbox":  # the embedded cluster, through its kubeconfig like any other cluster
        from harness.mesh._kubernetes_backend import KubernetesBackend
        from harness.sandbox import Sandbox

        sandbox = Sandbox.attach(state_dir)
        return KubernetesBackend(context=context or sandbox.harness_context, config_file=str(sandbox.kubeconfig_path))
    raise InputError(f"unknown backend {name!r}", [], hint=f"one of: {', '.join(BACKENDS)}")
