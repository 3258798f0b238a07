"""The object store: one lock, one global resourceVersion counter, an event log for watches, a snapshot file."""

from __future__ import annotations

import copy
import json
import logging
import os
import threading
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Key = tuple[str, str]          # (api group, plural)
ObjectKey = tuple[str, str]    # (namespace or "", name)


@dataclass(frozen=True)
class Event:
    """One change: ADDED, MODIFIED or DELETED, at the resourceVersion the change got."""

    resource_version: int
    type: str
    group: str
    plural: str
    namespace: str
    obj: dict[str, Any]


class TooOldError(Exception):
    """The asked resourceVersion is older than the event log keeps (the real server answers 410 Gone)."""

    def __init__(self, asked: int, oldest: int) -> None:
        super().__init__(f"too old resource version: {asked} ({oldest})")
        self.asked, self.oldest = asked, oldest


class Store:
    """Objects by (group, plural) then (namespace, name); every write bumps one counter, as etcd's revision."""

    def __init__(self, snapshot: Path | None = None, *, history: int = 5000) -> None:
        self.lock = threading.RLock()
        self.changed = threading.Condition(self.lock)
        self._objects: dict[Key, dict[ObjectKey, dict[str, Any]]] = {}
        self._events: deque[Event] = deque(maxlen=history)
        self._snapshot = snapshot
        self.resource_version = 1000
        self._load()

    # -- reads (copies) -----------------------------------------------------------------------

    def get(self, group: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        with self.lock:
            found = self._objects.get((group, plural), {}).get((namespace, name))
            return copy.deepcopy(found) if found is not None else None

    def list(self, group: str, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        """Objects of one resource, all namespaces when ``namespace`` is None, sorted by namespace and name."""
        with self.lock:
            bucket = self._objects.get((group, plural), {})
            return [copy.deepcopy(o) for (ns, _), o in sorted(bucket.items()) if namespace in (None, ns)]

    def read(self, group: str, plural: str, namespace: str | None) -> list[dict[str, Any]]:
        """The ObjectReader the authenticator and RBAC use."""
        return self.list(group, plural, namespace)

    def namespaces_in_use(self, namespace: str) -> Iterable[tuple[str, str, str]]:
        """Every (group, plural, name) stored in ``namespace``."""
        with self.lock:
            for (group, plural), bucket in self._objects.items():
                for ns, name in list(bucket):
                    if ns == namespace:
                        yield group, plural, name

    # -- writes -------------------------------------------------------------------------------

    def next_version(self) -> str:
        """Reserve the next resourceVersion (call with the lock held)."""
        self.resource_version += 1
        return str(self.resource_version)

    def put(self, group: str, plural: str, obj: dict[str, Any], event_type: str) -> dict[str, Any]:
        """Store ``obj`` (already stamped with a fresh resourceVersion) and log the event; returns a copy."""
        meta = obj["metadata"]
        with self.lock:
            stored = copy.deepcopy(obj)
            self._objects.setdefault((group, plural), {})[(meta.get("namespace", ""), meta["name"])] = stored
            self._record(group, plural, event_type, stored)
            return copy.deepcopy(stored)

    def remove(self, group: str, plural: str, namespace: str, name: str) -> dict[str, Any] | None:
        """Delete an object; the DELETED event carries a new resourceVersion, as the real watch cache does."""
        with self.lock:
            found = self._objects.get((group, plural), {}).pop((namespace, name), None)
            if found is None:
                return None
            found["metadata"]["resourceVersion"] = self.next_version()
            self._record(group, plural, "DELETED", found)
            return copy.deepcopy(found)

    def _record(self, group: str, plural: str, event_type: str, obj: dict[str, Any]) -> None:
        version = int(obj["metadata"]["resourceVersion"])
        namespace = obj["metadata"].get("namespace", "")
        self._events.append(Event(version, event_type, group, plural, namespace, copy.deepcopy(obj)))
        self._save()
        self.changed.notify_all()

    # -- watch --------------------------------------------------------------------------------

    def events_after(self, version: int, group: str, plural: str) -> list[Event]:
        """Events of one resource newer than ``version``; TooOldError if the log no longer reaches back."""
        with self.lock:
            oldest = self._events[0].resource_version if self._events else self.resource_version + 1
            if version < oldest - 1 and version < self.resource_version:
                raise TooOldError(version, oldest)
            return [e for e in self._events if e.resource_version > version and (e.group, e.plural) == (group, plural)]

    # -- snapshot -----------------------------------------------------------------------------

    def _save(self) -> None:
        if self._snapshot is None:
            return
        objects = [[g, p, o] for (g, p), bucket in self._objects.items() for o in bucket.values()]
        temporary = self._snapshot.with_suffix(".tmp")
        temporary.write_text(json.dumps({"resourceVersion": self.resource_version, "objects": objects}))
        os.replace(temporary, self._snapshot)

    def _load(self) -> None:
        if self._snapshot is None or not self._snapshot.exists():
            return
        try:
            data = json.loads(self._snapshot.read_text())
        except (OSError, ValueError) as exc:
            log.warning("ignoring unreadable API snapshot %s: %s", self._snapshot, exc)
            return
        self.resource_version = int(data.get("resourceVersion", self.resource_version))
        for group, plural, obj in data.get("objects", []):
            meta = obj["metadata"]
            self._objects.setdefault((group, plural), {})[(meta.get("namespace", ""), meta["name"])] = obj
