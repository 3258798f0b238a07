"""Backends by name, from one place."""

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
    if name == "sandbox":
        from harness.mesh._sandbox_backend import SandboxBackend
        from harness.sandbox import Sandbox

        return SandboxBackend(Sandbox.attach(state_dir))
    raise InputError(f"unknown backend {name!r}", [], hint=f"one of: {', '.join(BACKENDS)}")
