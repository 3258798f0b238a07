"""Inject faults (and apply the policies under test), and put everything back, whatever happens.

Before the first write, the original spec, run id, owner and an expiry time go onto the object as
annotations, in the same write as the change (so a kill between two writes cannot leave an
unmarked change). Every write carries the resourceVersion it read. Restoring a VirtualService
compares its live spec without our routes to the original: equal means nobody else touched it and
the original is written back exactly; different means someone else changed it, so only our routes
and marks are removed and the conflict is reported, never overwritten. Policy objects (any kind)
are restored when their live spec is still the one we wrote, and otherwise left as the other
writer made them, with the conflict reported.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from harness.errors import BackendError, ConflictError, ExperimentError, NotFoundError, TransientBackendError
from harness.experiment import Fault
from harness.istio import resolve_host
from harness.istio._merge import has_fault, merge_fault, new_virtual_service_spec, strip_fault
from harness.mesh._backend import KINDS, MeshBackend, MeshObject, list_widely

log = logging.getLogger(__name__)
MARK = "chaos.harness.io/"
RUN_ID = MARK + "run-id"
OWNER = MARK + "owner"
EXPIRES = MARK + "expires-at"
ORIGINAL = MARK + "original-spec"
CREATED = MARK + "created"
APPLIED = MARK + "applied-spec-sha256"
OUR_ANNOTATIONS = (RUN_ID, OWNER, EXPIRES, ORIGINAL, CREATED, APPLIED)
VIRTUAL_SERVICE = "VirtualService"
T = TypeVar("T")


@dataclass(frozen=True)
class AppliedFault:
    """A change in place: enough to restore it from this process (cleanup can do it from the marks)."""

    namespace: str
    name: str
    run_id: str
    created: bool
    before: MeshObject | None
    after: MeshObject
    kind: str = VIRTUAL_SERVICE
    fault: Fault | None = None  # what was injected (None for a policy object)


@dataclass(frozen=True)
class RestoreResult:
    namespace: str
    name: str
    action: str             # "restored", "deleted", "stripped (conflict)", "left (conflict)", "already gone"
    conflict: bool = False
    detail: str = ""
    kind: str = VIRTUAL_SERVICE
    written: MeshObject | None = None  # the object as the restoring write left it (None: deleted or untouched)


def find_virtual_service(backend: MeshBackend, fault: Fault, namespace: str) -> MeshObject | None:
    """The one VirtualService routing the fault's host (or named by it); None only when asked to create one.

    A host with no VirtualService is an error unless ``createVirtualService`` is set: a misspelt host
    would otherwise become a new VirtualService that no request ever meets.
    """
    objects = backend.list_objects(VIRTUAL_SERVICE, namespace)
    if fault.virtual_service:
        for obj in objects:
            if obj["metadata"]["name"] == fault.virtual_service:
                return obj
        raise ExperimentError(f"VirtualService {namespace}/{fault.virtual_service} not found; "
                              f"{_inventory(objects, namespace)}", [])
    fqdn = resolve_host(fault.host, namespace)
    matches = [o for o in objects if fqdn in _hosts_of(o, namespace)]
    if len(matches) > 1:
        names = ", ".join(f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in matches)
        raise ExperimentError(f"several VirtualServices route {fqdn}: {names}", [],
                              hint="name the one to change with faults[].virtualService")
    if matches:
        return matches[0]
    if not fault.create_virtual_service:
        raise ExperimentError(f"no VirtualService in namespace {namespace} routes {fqdn}; "
                              f"{_inventory(objects, namespace)}", [],
                              hint="check faults[].host for a typo, name one with faults[].virtualService, or set "
                                   "faults[].createVirtualService: true to create one for this host")
    visible, _ = list_widely(backend, VIRTUAL_SERVICE, namespace)
    elsewhere = [o for o in visible if o["metadata"].get("namespace") != namespace and fqdn in _hosts_of(o, namespace)]
    for other in elsewhere:
        log.warning("VirtualService %s/%s in another namespace also routes %s; the one created in %s may not be "
                    "the one the proxies use", other["metadata"]["namespace"], other["metadata"]["name"], fqdn,
                    namespace)
    return None


def _hosts_of(obj: MeshObject, namespace: str) -> set[str]:
    return {resolve_host(h, obj["metadata"].get("namespace", namespace)) for h in obj.get("spec", {}).get("hosts", [])}


def _inventory(objects: list[MeshObject], namespace: str) -> str:
    if not objects:
        return "the namespace has no VirtualServices at all"
    listed = "; ".join(f"{o['metadata']['name']} (hosts: {', '.join(o.get('spec', {}).get('hosts', [])) or 'none'})"
                       for o in objects)
    return f"VirtualServices in {namespace}: {listed}"


def _marks(run_id: str, owner: str, ttl_s: float) -> dict[str, str]:
    expires = (datetime.now(UTC) + timedelta(seconds=ttl_s)).isoformat(timespec="seconds")
    return {RUN_ID: run_id, OWNER: owner, EXPIRES: expires}


def inject(backend: MeshBackend, fault: Fault, *, namespace: str, run_id: str, owner: str,
           ttl_s: float) -> AppliedFault:
    """Merge ``fault`` into the live VirtualService (or create one), marked for restore."""
    def attempt() -> AppliedFault:
        live = find_virtual_service(backend, fault, namespace)
        if live is None:
            name = f"chaos-{run_id}-{fault.host.split('.')[0]}"[:63]
            obj = {"kind": VIRTUAL_SERVICE, "metadata": {"name": name, "namespace": namespace, "annotations": {
                       **_marks(run_id, owner, ttl_s), CREATED: "true"}},
                   "spec": new_virtual_service_spec(fault.host, fault, run_id)}
            return AppliedFault(namespace, name, run_id, True, None, backend.create_object(obj), fault=fault)
        _refuse_if_locked(live, run_id)
        marked = copy.deepcopy(live)
        annotations = marked["metadata"].setdefault("annotations", {})
        annotations.setdefault(ORIGINAL, json.dumps(live["spec"], sort_keys=True))
        annotations.update(_marks(run_id, owner, ttl_s))
        marked["spec"] = merge_fault(live["spec"], fault, run_id)
        created = annotations.get(CREATED) == "true"
        return AppliedFault(namespace, live["metadata"]["name"], run_id, created, live, backend.replace_object(marked),
                            fault=fault)

    return with_retries(attempt, what=f"inject the fault on {fault.host}")


def apply_policy(backend: MeshBackend, obj: MeshObject, *, run_id: str, owner: str, ttl_s: float) -> AppliedFault:
    """Create or replace a policy object for the run (e.g. a DestinationRule under test), marked for restore."""
    kind, meta = obj["kind"], obj["metadata"]
    namespace, name = meta.get("namespace", "default"), meta["name"]

    def attempt() -> AppliedFault:
        try:
            live: MeshObject | None = backend.get_object(kind, namespace, name)
        except NotFoundError:
            live = None
        desired = copy.deepcopy(obj)
        desired["metadata"] = copy.deepcopy(live["metadata"]) if live else {"name": name, "namespace": namespace}
        annotations = desired["metadata"].setdefault("annotations", {})
        annotations.update(_marks(run_id, owner, ttl_s))
        annotations[APPLIED] = _digest(obj["spec"])
        if live is None:
            annotations[CREATED] = "true"
            return AppliedFault(namespace, name, run_id, True, None, backend.create_object(desired), kind)
        _refuse_if_locked(live, run_id)
        annotations.setdefault(ORIGINAL, json.dumps(live["spec"], sort_keys=True))
        return AppliedFault(namespace, name, run_id, False, live, backend.replace_object(desired), kind)

    return with_retries(attempt, what=f"apply {kind} {namespace}/{name}")


def _refuse_if_locked(obj: MeshObject, run_id: str) -> None:
    annotations = obj["metadata"].get("annotations") or {}
    holder = annotations.get(RUN_ID)
    if holder and holder != run_id:
        name = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        raise BackendError(f"{obj.get('kind', VIRTUAL_SERVICE)} {name} is held by chaos run {holder} (owner "
                           f"{annotations.get(OWNER, 'unknown')}, expires {annotations.get(EXPIRES, '?')})",
                           hint="wait for it to finish, or run 'harness cleanup' if that run is dead")


def is_active(backend: MeshBackend, applied: AppliedFault) -> bool:
    """True while our routes are still in the live object (GitOps or a person may remove them)."""
    try:
        live = backend.get_object(VIRTUAL_SERVICE, applied.namespace, applied.name)
    except NotFoundError:
        return False
    return has_fault(live["spec"], applied.run_id)


def restore(backend: MeshBackend, namespace: str, name: str, run_id: str | None = None, *,
            kind: str = VIRTUAL_SERVICE, fault_only: bool = False) -> RestoreResult:
    """Put a marked object back as it was (see the module docstring for conflicts).

    ``fault_only`` takes out only the run's fault routes when a policy of the same run is also on the
    object (policy first in, last out): the policy stays, with every mark, until its own restore.
    """
    def attempt() -> RestoreResult:
        try:
            live = backend.get_object(kind, namespace, name)
        except NotFoundError:
            return RestoreResult(namespace, name, "already gone", kind=kind)
        annotations = live["metadata"].get("annotations") or {}
        owner_run = annotations.get(RUN_ID)
        if owner_run is None or (run_id is not None and owner_run != run_id):
            return RestoreResult(namespace, name, "not ours", detail=f"marked by {owner_run or 'nobody'}", kind=kind)
        has_our_routes = kind == VIRTUAL_SERVICE and has_fault(live["spec"], owner_run)
        if fault_only and APPLIED in annotations:
            if not has_our_routes:
                return RestoreResult(namespace, name, "fault already gone", kind=kind)
            without_fault = copy.deepcopy(live)
            without_fault["spec"] = strip_fault(live["spec"], owner_run)
            return RestoreResult(namespace, name, "fault removed (the run's policy stays until its restore)",
                                 kind=kind, written=backend.replace_object(without_fault))
        ours = _ours(kind, live, owner_run, annotations)
        version = live["metadata"]["resourceVersion"]
        if annotations.get(CREATED) == "true" and ours:
            backend.delete_object(kind, namespace, name, version)
            return RestoreResult(namespace, name, "deleted", kind=kind)
        original = json.loads(annotations[ORIGINAL]) if ORIGINAL in annotations else None
        clean = copy.deepcopy(live)
        clean["metadata"]["annotations"] = {k: v for k, v in annotations.items() if k not in OUR_ANNOTATIONS}
        if not clean["metadata"]["annotations"]:
            del clean["metadata"]["annotations"]
        if ours and original is not None:
            clean["spec"] = original
            return RestoreResult(namespace, name, "restored", kind=kind, written=backend.replace_object(clean))
        merged_fault = has_our_routes or (kind == VIRTUAL_SERVICE and APPLIED not in annotations)
        if merged_fault:
            clean["spec"] = strip_fault(live["spec"], owner_run)
        written = backend.replace_object(clean)
        return RestoreResult(namespace, name, "stripped (conflict)" if merged_fault else "left (conflict)",
                             True, f"someone else changed the {kind} during the run; their change was kept and "
                             "only the chaos marks" + (" and routes" if merged_fault else "") + " removed",
                             kind=kind, written=written)

    return with_retries(attempt, what=f"restore {kind} {namespace}/{name}")


def _ours(kind: str, live: MeshObject, run_id: str, annotations: dict[str, str]) -> bool:
    """Is the live spec exactly what this run made of it (nobody else changed it since)?"""
    if APPLIED in annotations or kind != VIRTUAL_SERVICE:  # a policy object: whole spec written by us
        spec = strip_fault(live["spec"], run_id) if kind == VIRTUAL_SERVICE else live["spec"]  # + a fault of ours
        return annotations.get(APPLIED) == _digest(spec)
    stripped = strip_fault(live["spec"], run_id)
    if annotations.get(CREATED) == "true":
        return [r.get("name") for r in stripped.get("http", [])] == ["default"]
    return ORIGINAL in annotations and _digest(stripped) == _digest(json.loads(annotations[ORIGINAL]))


def run_id_of(obj: MeshObject) -> str | None:
    """The chaos run whose marks the object carries, if any."""
    return (obj["metadata"].get("annotations") or {}).get(RUN_ID)


def marked_objects(backend: MeshBackend, namespace: str | None, *, expired_only: bool,
                   now: datetime | None = None, run_id: str | None = None) -> list[MeshObject]:
    """Objects of every kind that carry our marks (only expired ones, or one run's, if asked)."""
    now = now or datetime.now(UTC)
    found = []
    for kind in KINDS:
        for obj in backend.list_objects(kind, namespace):
            annotations = obj["metadata"].get("annotations") or {}
            if RUN_ID not in annotations or run_id not in (None, annotations[RUN_ID]):
                continue
            if expired_only:
                try:
                    expires = datetime.fromisoformat(annotations.get(EXPIRES, ""))
                except ValueError:
                    expires = now  # unreadable expiry: treat as expired
                if expires > now:
                    continue
            found.append({"kind": kind, **obj})
    return found


def marked_virtual_services(backend: MeshBackend, namespace: str | None, *, expired_only: bool,
                            now: datetime | None = None) -> list[MeshObject]:
    return [o for o in marked_objects(backend, namespace, expired_only=expired_only, now=now)
            if o["kind"] == VIRTUAL_SERVICE]


def restore_marked(obj: MeshObject, backend: MeshBackend, run_id: str | None = None) -> RestoreResult:
    meta = obj["metadata"]
    return restore(backend, meta["namespace"], meta["name"], run_id, kind=obj["kind"])


def with_retries(action: Callable[[], T], *, what: str, attempts: int = 5, base_delay_s: float = 0.2) -> T:
    """Retry API errors and lost races with exponential backoff; the last error propagates."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except (ConflictError, TransientBackendError) as exc:
            if attempt == attempts:
                raise
            log.warning("could not %s (%s); retrying (%d/%d)", what, exc, attempt, attempts)
            time.sleep(base_delay_s * 2 ** (attempt - 1))
    raise AssertionError("unreachable")


def _digest(spec: Any) -> str:
    return hashlib.sha256(json.dumps(_canonical(spec), sort_keys=True).encode()).hexdigest()


def _canonical(value: Any) -> Any:
    """JSON as the API server gives it back: it stores a written ``1.0`` as ``1`` (Go's int64 decoding)."""
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
