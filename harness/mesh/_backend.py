"""The one interface every place that holds mesh config implements: a cluster or the sandbox."""

from __future__ import annotations

from typing import Any, Protocol

VirtualServiceObject = dict[str, Any]  # a Kubernetes object as JSON, kept whole for exact restores


class MeshBackend(Protocol):
    """VirtualService reads and writes with optimistic concurrency (``metadata.resourceVersion``).

    ``replace`` and ``delete`` raise ConflictError when the object changed since it was read, and
    NotFoundError when it is gone; ``create`` raises ConflictError when it already exists.
    """

    name: str

    def list_virtual_services(self, namespace: str | None) -> list[VirtualServiceObject]: ...

    def get_virtual_service(self, namespace: str, name: str) -> VirtualServiceObject: ...

    def create_virtual_service(self, obj: VirtualServiceObject) -> VirtualServiceObject: ...

    def replace_virtual_service(self, obj: VirtualServiceObject) -> VirtualServiceObject: ...

    def delete_virtual_service(self, namespace: str, name: str, resource_version: str) -> None: ...
