"""The sandbox's "API server": Istio objects in a JSON file, with resourceVersion and conflicts.

Any process that knows the state folder can read and write; a file lock serialises writers, and
every accepted write is translated and applied to the Envoys before the call returns. A write
whose config Envoy rejects is not stored, so the store always describes what is serving.
"""

from __future__ import annotations

import contextlib
import copy
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from harness.errors import ConflictError, NotFoundError

Apply = Callable[[list[dict[str, Any]]], None]


def object_key(obj: dict[str, Any]) -> tuple[str, str, str]:
    meta = obj.get("metadata") or {}
    return (str(obj.get("kind")), str(meta.get("namespace", "default")), str(meta.get("name")))


class MeshStore:
    """Istio objects the sandbox serves; ``apply`` pushes a full object list to the data plane."""

    def __init__(self, root: Path, apply: Apply) -> None:
        self.root = root
        self._apply = apply
        self._file = root / "objects.json"

    def list(self, kind: str | None = None, namespace: str | None = None) -> list[dict[str, Any]]:
        items = self._read()["items"]
        return [copy.deepcopy(o) for o in items
                if kind in (None, o["kind"]) and namespace in (None, object_key(o)[1])]

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        for obj in self._read()["items"]:
            if object_key(obj) == (kind, namespace, name):
                return copy.deepcopy(obj)
        raise NotFoundError(f"{kind} {namespace}/{name} not found")

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        with self._locked() as state:
            if any(object_key(o) == object_key(obj) for o in state["items"]):
                raise ConflictError(f"{object_key(obj)[0]} {object_key(obj)[1]}/{object_key(obj)[2]} already exists")
            stored = self._stamp(state, obj)
            self._commit(state, state["items"] + [stored])
            return copy.deepcopy(stored)

    def replace(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Replace an object; ``metadata.resourceVersion``, when given, must match the stored one."""
        with self._locked() as state:
            index = self._index(state, obj)
            self._check_version(state["items"][index], obj)
            stored = self._stamp(state, obj)
            items = list(state["items"])
            items[index] = stored
            self._commit(state, items)
            return copy.deepcopy(stored)

    def delete(self, kind: str, namespace: str, name: str, resource_version: str | None = None) -> None:
        with self._locked() as state:
            index = self._index(state, {"kind": kind, "metadata": {"namespace": namespace, "name": name}})
            if resource_version is not None:
                self._check_version(state["items"][index], {"metadata": {"resourceVersion": resource_version}})
            self._commit(state, state["items"][:index] + state["items"][index + 1:])

    def replace_all(self, objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Make ``objects`` the whole set, applied at once (resets a sandbox between experiments)."""
        with self._locked() as state:
            stored = [self._stamp(state, o) for o in objects]
            self._commit(state, stored)
            return copy.deepcopy(stored)

    def seed(self, objects: list[dict[str, Any]]) -> None:
        """Store the initial set, already served by the Envoys at start-up."""
        with self._locked() as state:
            state["items"] = [self._stamp(state, o) for o in objects]
            self._save(state)

    def _index(self, state: dict[str, Any], obj: dict[str, Any]) -> int:
        for index, existing in enumerate(state["items"]):
            if object_key(existing) == object_key(obj):
                return index
        kind, namespace, name = object_key(obj)
        raise NotFoundError(f"{kind} {namespace}/{name} not found")

    @staticmethod
    def _check_version(stored: dict[str, Any], obj: dict[str, Any]) -> None:
        wanted = (obj.get("metadata") or {}).get("resourceVersion")
        current = stored["metadata"]["resourceVersion"]
        if wanted is not None and str(wanted) != current:
            kind, namespace, name = object_key(stored)
            raise ConflictError(f"{kind} {namespace}/{name} was modified (resourceVersion {current}, "
                                f"the write expected {wanted})")

    @staticmethod
    def _stamp(state: dict[str, Any], obj: dict[str, Any]) -> dict[str, Any]:
        state["version"] += 1
        stored = copy.deepcopy(obj)
        meta = stored.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        meta["resourceVersion"] = str(state["version"])
        return stored

    def _commit(self, state: dict[str, Any], items: list[dict[str, Any]]) -> None:
        self._apply(items)  # raises if the data plane refuses; nothing is stored then
        state["items"] = items
        self._save(state)

    def _save(self, state: dict[str, Any]) -> None:
        tmp = self._file.with_name(".objects.json.tmp")
        tmp.write_text(json.dumps(state, indent=1))
        os.replace(tmp, self._file)

    def _read(self) -> dict[str, Any]:
        try:
            return dict(json.loads(self._file.read_text()))
        except FileNotFoundError:
            return {"version": 0, "items": []}

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield self._read()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)
