"""Label and field selectors, as the API server parses them.

Label selector grammar from https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors
(``=``, ``==``, ``!=``, ``in``, ``notin``, ``key``, ``!key``, comma meaning AND); field selectors support
``=``, ``==`` and ``!=`` on dotted paths (metadata.name, metadata.namespace and any field the kind
indexes; here any field path, which is a superset).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from harness.sandbox._api._registry import ApiError

Matcher = Callable[[dict[str, Any]], bool]
_SET = re.compile(r"^\s*([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)\s*$")


def _terms(text: str) -> list[str]:
    """Split on commas outside parentheses."""
    terms, depth, current = [], 0, ""
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            terms.append(current)
            current = ""
        else:
            current += char
    if current.strip():
        terms.append(current)
    return [t.strip() for t in terms if t.strip()]


def _label_term(term: str) -> Matcher:
    found = _SET.match(term)
    if found:
        key, op, values = found[1], found[2], {v.strip() for v in found[3].split(",") if v.strip()}
        if op == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    for op in ("!=", "==", "="):
        if op in term:
            key, _, value = (part.strip() for part in term.partition(op))
            if op == "!=":
                return lambda labels: labels.get(key) != value
            return lambda labels: labels.get(key) == value
    if term.startswith("!"):
        key = term[1:].strip()
        return lambda labels: key not in labels
    if re.match(r"^[A-Za-z0-9./_-]+$", term):
        return lambda labels: term in labels
    raise ApiError(400, "BadRequest", f"unable to parse requirement: {term!r}")


def label_selector(text: str) -> Matcher:
    terms = [_label_term(t) for t in _terms(text)]
    return lambda obj: all(t((obj.get("metadata") or {}).get("labels") or {}) for t in terms)


def _value_at(obj: dict[str, Any], path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict):
            return ""
        node = node.get(part)
    return "" if node is None else str(node)


def field_selector(text: str) -> Matcher:
    checks: list[Matcher] = []
    for term in _terms(text):
        for op in ("!=", "==", "="):
            if op in term:
                path, _, value = (p.strip() for p in term.partition(op))
                if op == "!=":
                    checks.append(lambda obj, p=path, v=value: _value_at(obj, p) != v)
                else:
                    checks.append(lambda obj, p=path, v=value: _value_at(obj, p) == v)
                break
        else:
            raise ApiError(400, "BadRequest", f"invalid field selector: {term!r}")
    return lambda obj: all(c(obj) for c in checks)
