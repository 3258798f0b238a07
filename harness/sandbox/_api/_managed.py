"""managedFields and server-side apply: who owns which field, conflicts, and the merge an apply does.

Semantics from https://kubernetes.io/docs/reference/using-api/server-side-apply/ : maps are granular and
lists atomic (Istio's CRD schemas and x-kubernetes-preserve-unknown-fields give no list-map keys); an update
(PUT, merge or JSON patch) takes ownership of the fields it changes from everyone; an apply conflicts on a
field another manager owns with a different value unless forced; fields an applier stops sending are removed
unless someone else still owns them. Messages follow
staging/src/k8s.io/apiserver/pkg/endpoints/handlers/fieldmanager/internal/conflict.go.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

Path = tuple[str, ...]
_METADATA_TRACKED = frozenset({"labels", "annotations", "finalizers", "ownerReferences"})


@dataclass(frozen=True)
class Conflict:
    """A field the applier wants that another manager owns with a different value."""

    entry: dict[str, Any]
    path: Path


class ApplyConflict(Exception):
    """The apply conflicts; ``message`` and ``causes`` are the real 409's."""

    def __init__(self, conflicts: list[Conflict]) -> None:
        self.conflicts = conflicts
        super().__init__(conflict_message(conflicts))

    @property
    def causes(self) -> list[dict[str, str]]:
        return [{"type": "FieldManagerConflict", "message": f"conflict with {print_manager(c.entry)}",
                 "field": format_path(c.path)} for c in self.conflicts]


def format_path(path: Path) -> str:
    return "".join(f".{p}" for p in path)


def print_manager(entry: dict[str, Any]) -> str:
    text = json.dumps(entry.get("manager", ""))
    if entry.get("subresource"):
        text = f"{text} with subresource {json.dumps(entry['subresource'])}"
    if entry.get("operation") == "Update":
        return f"{text} using {entry.get('apiVersion')} at {entry.get('time')}"
    return text


def conflict_message(conflicts: list[Conflict]) -> str:
    if len(conflicts) == 1:
        only = conflicts[0]
        return f"Apply failed with 1 conflict: conflict with {print_manager(only.entry)}: {format_path(only.path)}"
    by_manager: dict[str, list[Conflict]] = {}
    for conflict in conflicts:
        by_manager.setdefault(json.dumps(conflict.entry, sort_keys=True), []).append(conflict)
    lines: list[str] = []
    for key in sorted(by_manager):
        group = by_manager[key]
        lines.append(f"conflicts with {print_manager(group[0].entry)}:")
        lines.extend(f"- {format_path(c.path)}" for c in group)
    return f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)


# -- field sets -------------------------------------------------------------------------------------

def leaves(obj: dict[str, Any], subresource: str = "", has_status: bool = False) -> dict[Path, Any]:
    """Every owned leaf path of ``obj`` with its value; identity and server-set metadata are nobody's."""
    found: dict[Path, Any] = {}
    for key, value in obj.items():
        if key in ("apiVersion", "kind"):
            continue
        if key == "metadata" and isinstance(value, dict):
            for meta_key in _METADATA_TRACKED & value.keys():
                _collect(value[meta_key], ("metadata", meta_key), found)
        elif has_status and (key == "status") != (subresource == "status"):
            continue  # the main resource resets status, /status resets everything else
        else:
            _collect(value, (key,), found)
    return found


def _collect(value: Any, path: Path, found: dict[Path, Any]) -> None:
    if isinstance(value, dict) and value:
        for key, child in value.items():
            _collect(child, (*path, str(key)), found)
    else:
        found[path] = value


def to_fields_v1(paths: set[Path]) -> dict[str, Any]:
    tree: dict[str, Any] = {}
    for path in sorted(paths):
        node = tree
        for part in path:
            node = node.setdefault(f"f:{part}", {})
    return tree


def from_fields_v1(tree: dict[str, Any], prefix: Path = ()) -> set[Path]:
    paths: set[Path] = set()
    for key, child in tree.items():
        if key == ".":
            continue
        path = (*prefix, key[2:] if key.startswith("f:") else key)
        paths |= from_fields_v1(child, path) if isinstance(child, dict) and child else {path}
    return paths


def _overlaps(a: Path, b: Path) -> bool:
    shorter = min(len(a), len(b))
    return a[:shorter] == b[:shorter]


# -- managedFields bookkeeping ----------------------------------------------------------------------

def _entry(manager: str, operation: str, api_version: str, now: str, paths: set[Path],
           subresource: str) -> dict[str, Any]:
    entry = {"manager": manager, "operation": operation, "apiVersion": api_version, "time": now,
             "fieldsType": "FieldsV1", "fieldsV1": to_fields_v1(paths)}
    if subresource:
        entry["subresource"] = subresource
    return entry


def _same_owner(entry: dict[str, Any], manager: str, operation: str, subresource: str) -> bool:
    return (entry.get("manager"), entry.get("operation"), entry.get("subresource", "")) == (
        manager, operation, subresource)


def _without(entries: list[dict[str, Any]], taken: set[Path]) -> list[dict[str, Any]]:
    """Entries with ``taken`` paths (and anything under or over them) removed; empty entries dropped."""
    result = []
    for entry in entries:
        kept = {p for p in from_fields_v1(entry.get("fieldsV1") or {}) if not any(_overlaps(p, t) for t in taken)}
        if kept:
            result.append({**entry, "fieldsV1": to_fields_v1(kept)})
    return result


def record_update(old: dict[str, Any] | None, new: dict[str, Any], *, manager: str, api_version: str, now: str,
                  subresource: str = "", has_status: bool = False) -> list[dict[str, Any]]:
    """The managedFields after a non-apply write: the writer takes every field it changed."""
    before = leaves(old, subresource, has_status) if old else {}
    after = leaves(new, subresource, has_status)
    changed = {p for p, v in after.items() if p not in before or before[p] != v}
    removed = {p for p in before if p not in after and not any(_overlaps(p, q) for q in after)}
    entries = _without(list((old or {}).get("metadata", {}).get("managedFields") or []), changed | removed)
    mine = next((e for e in entries if _same_owner(e, manager, "Update", subresource)), None)
    owned = from_fields_v1(mine["fieldsV1"]) if mine else set()
    entries = [e for e in entries if e is not mine]
    owned = {p for p in owned | changed if p in after}
    if owned:
        entries.append(_entry(manager, "Update", api_version, now, owned, subresource))
    return entries


def server_side_apply(live: dict[str, Any] | None, config: dict[str, Any], *, manager: str, api_version: str,
                      now: str, force: bool, subresource: str = "", has_status: bool = False) -> dict[str, Any]:
    """Merge an applied configuration into ``live``; returns the new object with managedFields set."""
    current = copy.deepcopy(live) if live else {"metadata": {}}
    entries = list(current.get("metadata", {}).get("managedFields") or [])
    mine = next((e for e in entries if _same_owner(e, manager, "Apply", subresource)), None)
    others = [e for e in entries if e is not mine]
    applied = leaves(config, subresource, has_status)
    live_leaves = leaves(current, subresource, has_status)
    conflicts = _conflicts(applied, live_leaves, others)
    if conflicts and not force:
        raise ApplyConflict(conflicts)
    others = _without(others, {c.path for c in conflicts})
    previously = from_fields_v1(mine["fieldsV1"]) if mine else set()
    still_owned = set().union(*(from_fields_v1(e["fieldsV1"]) for e in others)) if others else set()
    for path in previously - applied.keys():
        if not any(_overlaps(path, p) for p in still_owned) and not any(_overlaps(path, p) for p in applied):
            _delete_path(current, path)
    merged = _merge(current, config)
    merged.setdefault("metadata", {})["managedFields"] = [
        *others, _entry(manager, "Apply", api_version, now, set(applied), subresource)]
    return merged


def _conflicts(applied: dict[Path, Any], live: dict[Path, Any], others: list[dict[str, Any]]) -> list[Conflict]:
    found = []
    for entry in others:
        owned = from_fields_v1(entry.get("fieldsV1") or {})
        for path in sorted(applied):
            if path in owned and path in live and live[path] != applied[path]:
                found.append(Conflict(entry, path))
    return found


def _merge(target: Any, config: Any) -> Any:
    if not (isinstance(target, dict) and isinstance(config, dict)):
        return copy.deepcopy(config)
    result = dict(target)
    for key, value in config.items():
        result[key] = _merge(target.get(key), value) if isinstance(value, dict) and value else copy.deepcopy(value)
    return result


def _delete_path(obj: dict[str, Any], path: Path) -> None:
    node: Any = obj
    trail = []
    for part in path[:-1]:
        if not isinstance(node, dict) or part not in node:
            return
        trail.append((node, part))
        node = node[part]
    if isinstance(node, dict):
        node.pop(path[-1], None)
    for parent, part in reversed(trail):  # prune maps the removal left empty
        if parent[part] == {} and part != "metadata":
            del parent[part]
