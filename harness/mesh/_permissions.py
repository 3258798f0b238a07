"""Preflight: every permission a run needs, asked of the API server before anything is touched.

Asking (SelfSubjectAccessReview, what ``kubectl auth can-i`` does) instead of trying means a run that
would fail half-way on a 403, with a fault already injected, never starts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from harness.errors import KubernetesError
from harness.istio import API_GROUP
from harness.mesh._backend import KINDS, MeshBackend
from harness.mesh._kubernetes_backend import PLURALS

COORDINATION = "coordination.k8s.io"


@dataclass(frozen=True, order=True)
class Permission:
    verb: str
    resource: str
    namespace: str | None
    group: str = API_GROUP

    def __str__(self) -> str:
        where = f"in namespace {self.namespace}" if self.namespace else "cluster-wide"
        return f"{self.verb} {self.resource}.{self.group} {where}" if self.group else f"{self.verb} {self.resource} {where}"


def run_permissions(namespace: str, *, policy_kinds: Iterable[str] = (), has_faults: bool = True) -> list[Permission]:
    """What ``harness run`` does in ``namespace``: read and change VirtualServices, apply and restore policies."""
    wanted = {Permission(verb, "virtualservices", namespace) for verb in ("get", "list", "update")} if has_faults else set()
    policy_kinds = set(policy_kinds)
    if has_faults or policy_kinds:  # the run's Leases on its targets
        wanted |= {Permission(verb, "leases", namespace, COORDINATION) for verb in ("get", "create", "update", "delete")}
    for kind in policy_kinds:
        wanted |= {Permission(verb, PLURALS[kind], namespace) for verb in ("get", "create", "update", "delete")}
    return sorted(wanted)


def cleanup_permissions(namespace: str | None) -> list[Permission]:
    """What ``harness cleanup`` does: find our marks on every kind we may have changed, restore or delete."""
    return sorted({Permission(verb, PLURALS[kind], namespace) for kind in KINDS
                   for verb in ("list", "get", "update", "delete")})


def missing_permissions(backend: MeshBackend, wanted: Sequence[Permission]) -> list[Permission]:
    return [p for p in wanted if not backend.can(p.verb, p.group, p.resource, p.namespace)]


def check_permissions(backend: MeshBackend, wanted: Sequence[Permission]) -> None:
    """Raise, naming every missing permission, unless the backend's identity has all of ``wanted``."""
    missing = missing_permissions(backend, wanted)
    if missing:
        raise KubernetesError(
            f"the credentials of context {backend.context or backend.name!r} lack "
            f"{len(missing)} permission(s) this run needs; nothing was changed:\n"
            + "\n".join(f"  - {p}" for p in missing),
            hint="apply deploy/rbac.yaml to the namespace (kubectl apply -n NAMESPACE -f deploy/rbac.yaml), "
                 "or check with: kubectl auth can-i VERB RESOURCE -n NAMESPACE")
