"""Put back what a run changed, then read it back: "restored" is said only when the API shows the original.

Restoring a VirtualService compares its live spec without our routes to the original: equal means
nobody else touched it and the original is written back exactly; different means someone else
changed it, so only our routes and marks are removed and the conflict is reported, never
overwritten. Policy objects (any kind) are restored when their live spec is still the one we wrote
(for a VirtualService: plus a fault of the same run, which goes with it), and otherwise left as the
other writer made them, with the conflict reported.

A restore is idempotent: run again (a retry after a lost answer, a revert re-entered on the way
out, ``harness cleanup`` after the runner) it finds nothing of the run left and says so. After the
write, the object is read again and compared with what the write meant to leave; any difference
becomes ``leftover``, naming exactly what is still there.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, replace
from typing import Any

from harness.errors import NotFoundError
from harness.istio._merge import has_fault, strip_fault
from harness.mesh._backend import MeshBackend, MeshObject
from harness.mesh._faults import with_retries
from harness.mesh._marks import (
    APPLIED,
    CREATED,
    MARK,
    ORIGINAL,
    RUN_ID,
    VIRTUAL_SERVICE,
    annotations_of,
    canonical,
    chaos_routes,
    digest,
    without_marks,
)

NOT_RESTORED = "NOT restored"


@dataclass(frozen=True)
class RestoreResult:
    namespace: str
    name: str
    action: str             # "restored", "deleted", "fault removed (...)", "stripped (conflict)", "NOT restored", ...
    conflict: bool = False
    detail: str = ""
    kind: str = VIRTUAL_SERVICE
    written: MeshObject | None = None  # the object as the restoring write left it (None: deleted or untouched)
    leftover: str = ""      # what the read-back found not as the restore meant to leave it; "" when it matched

    @property
    def is_done(self) -> bool:
        """The read-back matched: nothing the restore was meant to remove is left."""
        return not self.leftover


@dataclass(frozen=True)
class _Intent:
    """What a restoring write meant to leave, checked by reading the object back."""

    run_id: str | None             # whose routes and marks must be gone (None: nothing of ours was touched)
    gone: bool = False             # deleted: the object must not exist
    spec: Any = None               # the recorded original, when it was written back
    annotations: dict[str, str] | None = None  # the annotations the object had before the run, likewise
    keep_marks: bool = False       # only the fault came out: the run's policy, and so its marks, stay


def restore(backend: MeshBackend, namespace: str, name: str, run_id: str | None = None, *,
            kind: str = VIRTUAL_SERVICE, fault_only: bool = False) -> RestoreResult:
    """Put a marked object back as it was, and read it back (see the module docstring).

    ``fault_only`` takes out only the run's fault routes when a policy of the same run is also on the
    object (policy first in, last out): the policy stays, with every mark, until its own restore.
    """
    what = f"{kind} {namespace}/{name}"
    result, intent = with_retries(lambda: _restore_once(backend, namespace, name, run_id, kind, fault_only),
                                  what=f"restore {what}")
    leftover = with_retries(lambda: _read_back(backend, result, intent), what=f"read back {what}")
    return replace(result, action=NOT_RESTORED, leftover=leftover) if leftover else result


def restore_marked(obj: MeshObject, backend: MeshBackend, run_id: str | None = None) -> RestoreResult:
    meta = obj["metadata"]
    return restore(backend, meta["namespace"], meta["name"], run_id, kind=obj["kind"])


def what_is_left(backend: MeshBackend, kind: str, namespace: str, name: str, run_id: str, *,
                 policy_stays: bool = False) -> str:
    """What of ``run_id`` the object still carries (routes, policy, marks), read from the API; "" when nothing.

    ``policy_stays``: only the run's fault counts, a policy of the run (and its marks) may stay.
    """
    try:
        live = backend.get_object(kind, namespace, name)
    except NotFoundError:
        return ""
    return _leftover(live, _Intent(run_id, keep_marks=policy_stays and APPLIED in annotations_of(live)), kind)


def _restore_once(backend: MeshBackend, namespace: str, name: str, run_id: str | None, kind: str,
                  fault_only: bool) -> tuple[RestoreResult, _Intent]:
    try:
        live = backend.get_object(kind, namespace, name)
    except NotFoundError:
        return RestoreResult(namespace, name, "already gone", kind=kind), _Intent(None)
    annotations = annotations_of(live)
    owner_run = annotations.get(RUN_ID)
    if owner_run is None:
        return _unmarked(backend, live, kind, run_id)
    if run_id is not None and owner_run != run_id:
        return RestoreResult(namespace, name, "not ours", detail=f"marked by run {owner_run}", kind=kind), _Intent(None)
    has_our_routes = kind == VIRTUAL_SERVICE and has_fault(live["spec"], owner_run)
    if fault_only and APPLIED in annotations:
        intent = _Intent(owner_run, keep_marks=True)
        if not has_our_routes:
            return RestoreResult(namespace, name, "fault already gone", kind=kind), intent
        without_fault = copy.deepcopy(live)
        without_fault["spec"] = strip_fault(live["spec"], owner_run)
        return RestoreResult(namespace, name, "fault removed (the run's policy stays until its restore)", kind=kind,
                             written=backend.replace_object(without_fault)), intent
    ours = _ours(kind, live, owner_run, annotations)
    if annotations.get(CREATED) == "true" and ours:
        backend.delete_object(kind, namespace, name, live["metadata"]["resourceVersion"])
        return RestoreResult(namespace, name, "deleted", kind=kind), _Intent(owner_run, gone=True)
    original = json.loads(annotations[ORIGINAL]) if ORIGINAL in annotations else None
    clean = copy.deepcopy(live)
    clean["metadata"]["annotations"] = without_marks(annotations)
    if not clean["metadata"]["annotations"]:
        del clean["metadata"]["annotations"]
    if ours and original is not None:
        clean["spec"] = original
        return (RestoreResult(namespace, name, "restored", kind=kind, written=backend.replace_object(clean)),
                _Intent(owner_run, spec=original, annotations=without_marks(annotations)))
    merged_fault = has_our_routes or (kind == VIRTUAL_SERVICE and APPLIED not in annotations)
    if merged_fault:
        clean["spec"] = strip_fault(live["spec"], owner_run)
    written = backend.replace_object(clean)
    return RestoreResult(namespace, name, "stripped (conflict)" if merged_fault else "left (conflict)",
                         True, f"someone else changed the {kind} during the run; their change was kept and "
                         "only the chaos marks" + (" and routes" if merged_fault else "") + " removed",
                         kind=kind, written=written), _Intent(owner_run)


def _unmarked(backend: MeshBackend, live: MeshObject, kind: str, run_id: str | None) -> tuple[RestoreResult, _Intent]:
    """No marks: restored already (a repeat is a no-op), or someone removed our marks but left our routes."""
    meta = live["metadata"]
    if run_id is None:
        return RestoreResult(meta["namespace"], meta["name"], "not marked", kind=kind), _Intent(None)
    if kind == VIRTUAL_SERVICE and has_fault(live["spec"], run_id):
        stripped = copy.deepcopy(live)
        stripped["spec"] = strip_fault(live["spec"], run_id)
        return RestoreResult(meta["namespace"], meta["name"], "stripped (conflict)", True,
                             "someone else removed the run's marks; only its routes were taken out", kind=kind,
                             written=backend.replace_object(stripped)), _Intent(run_id)
    return RestoreResult(meta["namespace"], meta["name"], f"nothing of run {run_id} left", kind=kind), _Intent(run_id)


def _ours(kind: str, live: MeshObject, run_id: str, annotations: dict[str, str]) -> bool:
    """Is the live spec exactly what this run made of it (nobody else changed it since)?"""
    if APPLIED in annotations or kind != VIRTUAL_SERVICE:  # a policy object: whole spec written by us
        spec = strip_fault(live["spec"], run_id) if kind == VIRTUAL_SERVICE else live["spec"]  # + a fault of ours
        return annotations.get(APPLIED) == digest(spec)
    stripped = strip_fault(live["spec"], run_id)
    if annotations.get(CREATED) == "true":
        return [r.get("name") for r in stripped.get("http", [])] == ["default"]
    return ORIGINAL in annotations and digest(stripped) == digest(json.loads(annotations[ORIGINAL]))


def _read_back(backend: MeshBackend, result: RestoreResult, intent: _Intent) -> str:
    if intent.run_id is None:  # nothing of ours was there to change
        return ""
    try:
        live: MeshObject | None = backend.get_object(result.kind, result.namespace, result.name)
    except NotFoundError:
        live = None
    return _leftover(live, intent, result.kind)


def _leftover(live: MeshObject | None, intent: _Intent, kind: str) -> str:
    """What of the run the object still holds, against what the restore meant to leave; "" when nothing."""
    if live is None:
        return "" if intent.spec is None else "it is gone: someone deleted it right after the restore"
    if intent.gone:
        return f"it still exists (created by run {intent.run_id})"
    problems = []
    annotations = annotations_of(live)
    routes = chaos_routes(live.get("spec"), str(intent.run_id)) if kind == VIRTUAL_SERVICE else []
    if routes:
        problems.append(f"chaos route{'s' * (len(routes) > 1)} {', '.join(routes)} still in spec.http")
    marked = annotations.get(RUN_ID) == intent.run_id
    if marked and not intent.keep_marks:
        problems.append(_what_the_marks_hold(annotations, intent.run_id))
    if intent.keep_marks and not marked:
        problems.append("the run's marks are gone while its policy stays, so cleanup cannot find it")
    if intent.spec is not None and (where := first_difference(canonical(live.get("spec")), canonical(intent.spec))):
        problems.append(f"the spec differs from the recorded original at {where}")
    if intent.annotations is not None and (where := first_difference(without_marks(annotations), intent.annotations,
                                                                      "metadata.annotations")):
        problems.append(f"the annotations differ from before the run at {where}")
    return "; ".join(problems)


def _what_the_marks_hold(annotations: dict[str, str], run_id: str | None) -> str:
    if APPLIED in annotations:
        held = f"the policy of run {run_id} is still applied"
    elif annotations.get(CREATED) == "true":
        held = f"it was created by run {run_id} and still exists"
    else:
        held = f"it still carries run {run_id}'s marks"
    return f"{held} ({MARK}* annotations on it)"


def first_difference(have: Any, want: Any, path: str = "spec") -> str:
    """Where two JSON documents first differ, as a path with both values; "" when they are equal."""
    if isinstance(have, dict) and isinstance(want, dict):
        for key in sorted(set(have) | set(want)):
            if key not in have:
                return f"{path}.{key} (missing; the original has {_short(want[key])})"
            if key not in want:
                return f"{path}.{key} (= {_short(have[key])}; not in the original)"
            if found := first_difference(have[key], want[key], f"{path}.{key}"):
                return found
        return ""
    if isinstance(have, list) and isinstance(want, list):
        if len(have) != len(want):
            return f"{path} ({len(have)} items; the original has {len(want)})"
        for index, (item, wanted) in enumerate(zip(have, want, strict=True)):
            if found := first_difference(item, wanted, f"{path}[{index}]"):
                return found
        return ""
    return "" if have == want else f"{path} (= {_short(have)}; the original has {_short(want)})"


def _short(value: Any, limit: int = 60) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[:limit - 3] + "..."
