"""Where mesh config is applied: backends (sandbox, kubernetes) and faults that always revert."""

from harness.mesh._backend import MeshBackend, MeshObject, VirtualServiceObject
from harness.mesh._faults import (
    AppliedFault,
    RestoreResult,
    apply_policy,
    find_virtual_service,
    inject,
    is_active,
    marked_objects,
    marked_virtual_services,
    restore,
    restore_marked,
    run_id_of,
)
from harness.mesh._kubernetes_backend import KubernetesBackend
from harness.mesh._memory_backend import MemoryBackend
from harness.mesh._registry import open_backend
from harness.mesh._safety import check_target
from harness.mesh._sandbox_backend import SandboxBackend

__all__ = [
    "AppliedFault", "KubernetesBackend", "MemoryBackend", "MeshBackend", "MeshObject", "RestoreResult",
    "SandboxBackend", "VirtualServiceObject", "apply_policy", "check_target", "find_virtual_service",
    "inject", "is_active", "marked_objects", "marked_virtual_services", "open_backend", "restore",
    "restore_marked", "run_id_of",
]
