"""Where mesh config is applied: the Kubernetes API (clusters and the sandbox alike) and faults that always revert."""

from harness.mesh._backend import MeshBackend, MeshObject, VirtualServiceObject
from harness.mesh._cleanup import CleanupPlan, describe_mark, plan_cleanup
from harness.mesh._faults import AppliedFault, apply_policy, find_virtual_service, inject, is_active
from harness.mesh._kube_config import ClusterCredentials, load_credentials
from harness.mesh._kubernetes_backend import KubernetesBackend
from harness.mesh._lease import RunLock, holder_of, lease_name, release_lease, stale_leases
from harness.mesh._live import (
    HTTPRouteView,
    KubernetesLiveReader,
    LiveMesh,
    LiveReader,
    MemoryLiveReader,
    PodView,
    endpoints_object,
    pod_object,
    read_live,
    service_object,
)
from harness.mesh._marks import marked_objects, marked_virtual_services, run_id_of
from harness.mesh._memory_backend import MemoryBackend
from harness.mesh._permissions import (
    Permission,
    check_permissions,
    cleanup_permissions,
    missing_permissions,
    run_permissions,
)
from harness.mesh._propagation import SyncState, sync_state, wait_synced
from harness.mesh._registry import open_backend
from harness.mesh._restore import RestoreResult, restore, restore_marked, what_is_left
from harness.mesh._safety import check_target

__all__ = [
    "HTTPRouteView", "KubernetesLiveReader", "LiveMesh", "LiveReader", "MemoryLiveReader", "PodView", "endpoints_object",
    "pod_object", "read_live", "service_object",
    "ClusterCredentials", "load_credentials",
    "RunLock", "holder_of", "lease_name", "release_lease", "stale_leases",
    "AppliedFault", "CleanupPlan", "KubernetesBackend", "MemoryBackend", "MeshBackend", "MeshObject", "Permission",
    "RestoreResult", "SyncState", "VirtualServiceObject", "apply_policy", "check_permissions", "check_target",
    "cleanup_permissions", "describe_mark", "find_virtual_service", "inject", "is_active", "marked_objects",
    "marked_virtual_services", "missing_permissions", "open_backend", "plan_cleanup", "restore", "restore_marked",
    "run_id_of", "run_permissions", "sync_state", "wait_synced", "what_is_left",
]
