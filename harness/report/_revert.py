"""Proof of revert: each changed object's original against what the API showed after the run put it back."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import yaml

from harness.report._result import Change

# what a revert must give back exactly; resourceVersion, generation and managedFields move with every write
COMPARED_METADATA = ("labels", "annotations")


class RevertState(StrEnum):
    PROVEN = "proven"    # read back after the revert: equal to the original (or gone, for an object the run created)
    LEFT = "left"        # read back: something of the run, or a difference, is still there
    UNKNOWN = "unknown"  # not read back (the undo failed, or the run stopped before it)


@dataclass(frozen=True)
class RevertProof:
    label: str
    state: RevertState
    words: str                              # the finding in one sentence
    diff: str                               # original -> after the revert; "" when they are equal
    versions: tuple[tuple[str, str], ...]   # (when, resourceVersion): before, with the change, after the revert


def spec_diff(before: dict[str, Any] | None, after: dict[str, Any]) -> str:
    """The change the run made: the spec before against the spec it wrote."""
    old = yaml.safe_dump(before["spec"], sort_keys=False).splitlines() if before else []
    new = yaml.safe_dump(after["spec"], sort_keys=False).splitlines()
    return "\n".join(difflib.unified_diff(old, new, "before", "with fault", lineterm=""))


def revert_proof(change: Change) -> RevertProof:
    """Compare the original with the object read back after the revert, and say what that proves."""
    label = f"{change.kind} {change.namespace}/{change.name}"
    versions = tuple((when, _version(obj)) for when, obj in
                     (("before", change.before), ("with the run's change", change.after), ("after the revert", change.final))
                     if obj is not None)
    if not change.read_back:
        return RevertProof(label, RevertState.UNKNOWN, f"not read back after the revert ({change.restore or 'no undo'})",
                           "", versions)
    if change.final is None:
        if change.created or change.before is None:
            return RevertProof(label, RevertState.PROVEN, "created for the run and deleted by the revert; read back: "
                               "it no longer exists", "", versions)
        return RevertProof(label, RevertState.LEFT, "read back after the revert: it no longer exists, but it existed "
                           "before the run", "", versions)
    if change.created or change.before is None:
        diff = _diff({}, _compared(change.final))
        return RevertProof(label, RevertState.LEFT, "created for the run and still there after the revert", diff, versions)
    diff = _diff(_compared(change.before), _compared(change.final))
    if diff:
        return RevertProof(label, RevertState.LEFT, "read back after the revert, it differs from the original: what "
                           "remained is marked + below", diff, versions)
    return RevertProof(label, RevertState.PROVEN, "read back after the revert, its spec, labels and annotations equal "
                       "the original: the diff is empty", "", versions)


def _compared(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {"metadata": {k: meta[k] for k in COMPARED_METADATA if meta.get(k)}, "spec": obj.get("spec")}


def _diff(original: dict[str, Any], final: dict[str, Any]) -> str:
    old = yaml.safe_dump(original, sort_keys=True).splitlines() if original else []
    new = yaml.safe_dump(final, sort_keys=True).splitlines()
    return "\n".join(difflib.unified_diff(old, new, "original", "after the revert", lineterm=""))


def _version(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion", "?"))
