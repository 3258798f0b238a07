"""The sandbox as a mesh backend: its store behaves like the API server (resourceVersion, conflicts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.mesh._backend import VirtualServiceObject

if TYPE_CHECKING:
    from harness.sandbox import Sandbox

KIND = "VirtualService"


class SandboxBackend:
    name = "sandbox"

    def __init__(self, sandbox: Sandbox) -> None:
        self._store = sandbox.mesh

    def list_virtual_services(self, namespace: str | None) -> list[VirtualServiceObject]:
        return self._store.list(KIND, namespace)

    def get_virtual_service(self, namespace: str, name: str) -> VirtualServiceObject:
        return self._store.get(KIND, namespace, name)

    def create_virtual_service(self, obj: VirtualServiceObject) -> VirtualServiceObject:
        return self._store.create({"apiVersion": "networking.istio.io/v1", "kind": KIND, **obj})

    def replace_virtual_service(self, obj: VirtualServiceObject) -> VirtualServiceObject:
        return self._store.replace(obj)

    def delete_virtual_service(self, namespace: str, name: str, resource_version: str) -> None:
        self._store.delete(KIND, namespace, name, resource_version)
