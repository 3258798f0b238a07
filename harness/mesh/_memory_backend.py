"""An in-memory mesh backend: for dry runs against YAML files, and for tests."""

from __future__ import annotations

import copy
import itertools

from harness.errors import ConflictError, NotFoundError
from harness.mesh._backend import VirtualServiceObject


class MemoryBackend:
    name = "memory"

    def __init__(self, objects: list[VirtualServiceObject] | None = None) -> None:
        self._versions = itertools.count(1)
        self._objects: dict[tuple[str, str], VirtualServiceObject] = {}
        for obj in objects or []:
            self.create_virtual_service(obj)

    def list_virtual_services(self, namespace: str | None) -> list[VirtualServiceObject]:
        return [copy.deepcopy(o) for (ns, _), o in sorted(self._objects.items()) if namespace in (None, ns)]

    def get_virtual_service(self, namespace: str, name: str) -> VirtualServiceObject:
        if (namespace, name) not in self._objects:
            raise NotFoundError(f"VirtualService {namespace}/{name} not found")
        return copy.deepcopy(self._objects[(namespace, name)])

    def create_virtual_service(self, obj: VirtualServiceObject) -> VirtualServiceObject:
        stored = copy.deepcopy(obj)
        meta = stored.setdefault("metadata", {})
        key = (meta.setdefault("namespace", "default"), meta["name"])
        if key in self._objects:
            raise ConflictError(f"VirtualService {key[0]}/{key[1]} already exists")
        meta["resourceVersion"] = str(next(self._versions))
        self._objects[key] = stored
        return copy.deepcopy(stored)

    def replace_virtual_service(self, obj: VirtualServiceObject) -> VirtualServiceObject:
        current = self.get_virtual_service(obj["metadata"]["namespace"], obj["metadata"]["name"])
        wanted = obj["metadata"].get("resourceVersion")
        if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
            raise ConflictError(f"VirtualService {obj['metadata']['name']} was modified")
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(next(self._versions))
        self._objects[(stored["metadata"]["namespace"], stored["metadata"]["name"])] = stored
        return copy.deepcopy(stored)

    def delete_virtual_service(self, namespace: str, name: str, resource_version: str) -> None:
        current = self.get_virtual_service(namespace, name)
        if resource_version != current["metadata"]["resourceVersion"]:
            raise ConflictError(f"VirtualService {namespace}/{name} was modified")
        del self._objects[(namespace, name)]
