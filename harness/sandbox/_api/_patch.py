"""The three non-apply patch formats: JSON merge patch, JSON patch and (for built-in kinds) strategic merge."""

from __future__ import annotations

import copy
from typing import Any

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
APPLY = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE, STRATEGIC, APPLY)


class PatchError(Exception):
    """A patch that cannot be applied; ``code`` is the HTTP status the real server gives."""

    def __init__(self, message: str, code: int = 422) -> None:
        super().__init__(message)
        self.code = code


def merge_patch(target: Any, patch: Any) -> Any:
    """Apply an RFC 7386 JSON merge patch; returns a new value."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def json_patch(document: Any, operations: Any) -> Any:
    """Apply an RFC 6902 JSON patch (add, remove, replace, move, copy, test); returns a new document."""
    if not isinstance(operations, list):
        raise PatchError("json: cannot unmarshal object into Go value of type jsonpatch.Patch", 400)
    doc = copy.deepcopy(document)
    for op in operations:
        if not isinstance(op, dict) or "path" not in op:
            raise PatchError("invalid JSON patch operation: missing path")
        doc = _apply_operation(doc, op)
    return doc


def _apply_operation(doc: Any, op: dict[str, Any]) -> Any:
    kind, path = op.get("op"), str(op["path"])
    if kind == "test":
        if _lookup(doc, path) != op.get("value"):
            raise PatchError(f"testing value {path} failed: test failed")
        return doc
    if kind in ("move", "copy"):
        value = copy.deepcopy(_lookup(doc, str(op.get("from", ""))))
        if kind == "move":
            doc = _remove(doc, str(op["from"]))
        return _add(doc, path, value)
    if kind == "remove":
        return _remove(doc, path)
    if kind == "replace":
        _lookup(doc, path)  # must exist (RFC 6902 section 4.3)
        return _add(doc, path, copy.deepcopy(op.get("value")), replace=True)
    if kind == "add":
        return _add(doc, path, copy.deepcopy(op.get("value")))
    raise PatchError(f"Unexpected kind: {kind}")


def _tokens(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise PatchError(f"JSON pointer must start with '/': {path!r}")
    return [t.replace("~1", "/").replace("~0", "~") for t in path[1:].split("/")]


def _step(node: Any, token: str, path: str) -> Any:
    try:
        return node[int(token)] if isinstance(node, list) else node[token]
    except (KeyError, IndexError, ValueError, TypeError):
        raise PatchError(f"doc is missing path: {path}: missing value") from None


def _lookup(doc: Any, path: str) -> Any:
    node = doc
    for token in _tokens(path):
        node = _step(node, token, path)
    return node


def _parent(doc: Any, path: str) -> tuple[Any, str]:
    tokens = _tokens(path)
    if not tokens:
        raise PatchError("cannot operate on the whole document")
    node = doc
    for token in tokens[:-1]:
        node = _step(node, token, path)
    return node, tokens[-1]


def _add(doc: Any, path: str, value: Any, *, replace: bool = False) -> Any:
    if path == "":
        return value
    parent, last = _parent(doc, path)
    if isinstance(parent, list):
        index = len(parent) if last == "-" else _index(last, len(parent) + (0 if replace else 1), path)
        if replace:
            parent[index] = value
        else:
            parent.insert(index, value)
    elif isinstance(parent, dict):
        parent[last] = value
    else:
        raise PatchError(f"doc is missing path: {path}: missing value")
    return doc


def _remove(doc: Any, path: str) -> Any:
    parent, last = _parent(doc, path)
    if isinstance(parent, list):
        del parent[_index(last, len(parent), path)]
    elif isinstance(parent, dict) and last in parent:
        del parent[last]
    else:
        raise PatchError(f"doc is missing path: {path}: missing value")
    return doc


def _index(token: str, size: int, path: str) -> int:
    if not token.isdigit() or int(token) >= size:
        raise PatchError(f"doc is missing path: {path}: missing value")
    return int(token)


# -- strategic merge patch (built-in kinds only) ---------------------------------------------------

# patchMergeKey of list fields in k8s.io/api (the `patchStrategy:"merge"` tags); other lists are replaced.
_MERGE_KEYS = {"containers": "name", "initContainers": "name", "ephemeralContainers": "name", "env": "name",
               "volumes": "name", "volumeMounts": "mountPath", "imagePullSecrets": "name", "ownerReferences": "uid",
               "conditions": "type", "hostAliases": "ip", "secrets": "name", "volumeDevices": "devicePath"}
_MERGED_PRIMITIVE_LISTS = frozenset({"finalizers"})  # metadata.finalizers: patchStrategy merge of strings


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    """Apply a strategic merge patch with the directives kubectl sends ($patch, $setElementOrder, $retainKeys)."""
    if not isinstance(patch, dict):
        raise PatchError("strategic merge patch must be a JSON object", 400)
    return _smp_map(copy.deepcopy(target) if isinstance(target, dict) else {}, patch)


def _smp_map(target: dict[str, Any], patch: dict[str, Any]) -> dict[str, Any]:
    if patch.get("$patch") == "replace":
        return {k: v for k, v in patch.items() if k != "$patch"}
    if patch.get("$patch") == "delete":
        return {}
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key.startswith("$"):
            _smp_directive(target, key, value)
        elif value is None:
            target.pop(key, None)
        elif isinstance(value, dict) and isinstance(target.get(key), dict):
            target[key] = _smp_map(target[key], value)
        elif isinstance(value, list) and isinstance(target.get(key), list):
            target[key] = _smp_list(key, target[key], value)
        else:
            target[key] = _strip_directives(value)
    if isinstance(retain, list):
        target = {k: v for k, v in target.items() if k in retain}
    return target


def _smp_directive(target: dict[str, Any], key: str, value: Any) -> None:
    if key.startswith("$deleteFromPrimitiveList/"):
        field = key.split("/", 1)[1]
        target[field] = [v for v in target.get(field, []) if v not in value]
    elif key.startswith("$setElementOrder/"):
        field = key.split("/", 1)[1]
        if isinstance(target.get(field), list):
            target[field] = _ordered(target[field], value, _MERGE_KEYS.get(field))


def _smp_list(key: str, target: list[Any], patch: list[Any]) -> list[Any]:
    if key in _MERGED_PRIMITIVE_LISTS:
        return target + [v for v in patch if v not in target]
    merge_key = _MERGE_KEYS.get(key)
    if key == "ports":  # container ports merge on containerPort, Service ports on port
        merge_key = "containerPort" if any(isinstance(p, dict) and "containerPort" in p for p in patch) else "port"
    if merge_key is None or not all(isinstance(p, dict) for p in patch):
        return _strip_directives(patch)
    result = list(target)
    for item in patch:
        index = next((i for i, t in enumerate(result) if isinstance(t, dict) and t.get(merge_key) == item.get(merge_key)),
                     None)
        if item.get("$patch") == "delete":
            result = [t for i, t in enumerate(result) if i != index]
        elif index is None:
            result.append(_strip_directives(item))
        else:
            result[index] = _smp_map(result[index], item)
    return result


def _ordered(items: list[Any], order: list[Any], merge_key: str | None) -> list[Any]:
    def position(item: Any) -> int:
        ident = item.get(merge_key) if merge_key and isinstance(item, dict) else item
        keys = [o.get(merge_key) if merge_key and isinstance(o, dict) else o for o in order]
        return keys.index(ident) if ident in keys else len(keys)

    return sorted(items, key=position)


def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items() if not k.startswith("$")}
    if isinstance(value, list):
        return [_strip_directives(v) for v in value]
    return value
