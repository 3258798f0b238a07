"""Where mesh config is applied: backends (sandbox, kubernetes) and faults that always revert."""

from harness.mesh._backend import MeshBackend, VirtualServiceObject
from harness.mesh._faults import (
    AppliedFault,
    RestoreResult,
    find_virtual_service,
    inject,
    is_active,
    marked_virtual_services,
    restore,
)
from harness.mesh._memory_backend import MemoryBackend
from harness.mesh._sandbox_backend import SandboxBackend

__all__ = [
    "AppliedFault", "MemoryBackend", "MeshBackend", "RestoreResult", "SandboxBackend", "VirtualServiceObject",
    "find_virtual_service", "inject", "is_active", "marked_virtual_services", "restore",
]
