"""An in-memory mesh backend: for dry runs against YAML files, and for tests."""

from __future__ import annotations

import copy
import itertools

from harness.errors import ConflictError, NotFoundError
from harness.mesh._backend import MeshObject


class MemoryBackend:
    name = "memory"
    context = None

    def __init__(self, objects: list[MeshObject] | None = None) -> None:
        self._versions = itertools.count(1)
        self._objects: dict[tuple[str, str, str], MeshObject] = {}
        for obj in objects or []:
            self.create_object({"kind": "VirtualService", **obj})

    def list_objects(self, kind: str, namespace: str | None) -> list[MeshObject]:
        return [copy.deepcopy(o) for (k, ns, _), o in sorted(self._objects.items())
                if k == kind and namespace in (None, ns)]

    def get_object(self, kind: str, namespace: str, name: str) -> MeshObject:
        if (kind, namespace, name) not in self._objects:
            raise NotFoundError(f"{kind} {namespace}/{name} not found")
        return copy.deepcopy(self._objects[(kind, namespace, name)])

    def create_object(self, obj: MeshObject) -> MeshObject:
        stored = copy.deepcopy(obj)
        meta = stored.setdefault("metadata", {})
        key = (stored["kind"], meta.setdefault("namespace", "default"), meta["name"])
        if key in self._objects:
            raise ConflictError(f"{key[0]} {key[1]}/{key[2]} already exists")
        meta["resourceVersion"] = str(next(self._versions))
        self._objects[key] = stored
        return copy.deepcopy(stored)

    def replace_object(self, obj: MeshObject) -> MeshObject:
        meta = obj["metadata"]
        current = self.get_object(obj["kind"], meta["namespace"], meta["name"])
        wanted = meta.get("resourceVersion")
        if wanted is not None and wanted != current["metadata"]["resourceVersion"]:
            raise ConflictError(f"{obj['kind']} {meta['name']} was modified")
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(next(self._versions))
        self._objects[(stored["kind"], meta["namespace"], meta["name"])] = stored
        return copy.deepcopy(stored)

    def delete_object(self, kind: str, namespace: str, name: str, resource_version: str) -> None:
        current = self.get_object(kind, namespace, name)
        if resource_version != current["metadata"]["resourceVersion"]:
            raise ConflictError(f"{kind} {namespace}/{name} was modified")
        del self._objects[(kind, namespace, name)]

    def can(self, verb: str, group: str, resource: str, namespace: str | None) -> bool:
        return True  # no identity, no RBAC: everything a dry run asks is allowed
