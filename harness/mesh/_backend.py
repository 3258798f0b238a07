"""The one interface every place that holds mesh config implements: a Kubernetes API (cluster or sandbox), memory."""

from __future__ import annotations

from typing import Any, Protocol

MeshObject = dict[str, Any]  # a Kubernetes object as JSON, kept whole for exact restores
VirtualServiceObject = MeshObject
KINDS = ("VirtualService", "DestinationRule", "Gateway", "ServiceEntry", "Sidecar")


class MeshBackend(Protocol):
    """Istio object reads and writes with optimistic concurrency (``metadata.resourceVersion``).

    ``replace_object`` and ``delete_object`` raise ConflictError when the object changed since it
    was read, NotFoundError when it is gone; ``create_object`` raises ConflictError when it exists.
    ``kind`` is one of ``KINDS``.
    """

    name: str
    context: str | None  # what it talks to, for guards and messages: a kubeconfig context, "in-cluster", None

    def list_objects(self, kind: str, namespace: str | None) -> list[MeshObject]: ...

    def get_object(self, kind: str, namespace: str, name: str) -> MeshObject: ...

    def create_object(self, obj: MeshObject) -> MeshObject: ...

    def replace_object(self, obj: MeshObject) -> MeshObject: ...

    def delete_object(self, kind: str, namespace: str, name: str, resource_version: str) -> None: ...

    def can(self, verb: str, group: str, resource: str, namespace: str | None) -> bool:
        """Whether this backend's identity may do ``verb`` on ``resource`` (a preflight question)."""
        ...


def list_widely(backend: MeshBackend, kind: str, namespace: str) -> tuple[list[MeshObject], bool]:
    """Objects of ``kind`` in every namespace when the credentials may list them, else in ``namespace``.

    deploy/rbac.yaml grants a namespaced Role only, so cross-namespace checks (another namespace's
    VirtualService routing the same host) are best effort; the flag says whether the view was cluster-wide.
    """
    from harness.errors import ForbiddenError

    try:
        return backend.list_objects(kind, None), True
    except ForbiddenError:
        return backend.list_objects(kind, namespace), False
