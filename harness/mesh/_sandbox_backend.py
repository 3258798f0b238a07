"""The sandbox as a mesh backend: its store behaves like the API server (resourceVersion, conflicts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.mesh._backend import MeshObject

if TYPE_CHECKING:
    from harness.sandbox import Sandbox


class SandboxBackend:
    name = "sandbox"

    def __init__(self, sandbox: Sandbox) -> None:
        self._store = sandbox.mesh

    def list_objects(self, kind: str, namespace: str | None) -> list[MeshObject]:
        return self._store.list(kind, namespace)

    def get_object(self, kind: str, namespace: str, name: str) -> MeshObject:
        return self._store.get(kind, namespace, name)

    def create_object(self, obj: MeshObject) -> MeshObject:
        return self._store.create({"apiVersion": "networking.istio.io/v1", **obj})

    def replace_object(self, obj: MeshObject) -> MeshObject:
        return self._store.replace(obj)

    def delete_object(self, kind: str, namespace: str, name: str, resource_version: str) -> None:
        self._store.delete(kind, namespace, name, resource_version)
