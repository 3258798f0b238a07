"""Inject faults into live VirtualServices and put everything back, whatever happens.

Before the first write, the original spec, run id, owner and an expiry time go onto the object as
annotations, in the same write as the fault (so a kill between two writes cannot leave an
unmarked fault). Every write carries the resourceVersion it read. Restoring compares the live
spec without our routes to the original: equal means nobody else touched it and the original is
written back exactly; different means someone else changed it, so only our routes and marks are
removed and the conflict is reported, never overwritten.
"""

from __future__ import annotations

import copy
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
from harness.mesh._backend import MeshBackend, VirtualServiceObject

log = logging.getLogger(__name__)
MARK = "chaos.harness.io/"
RUN_ID = MARK + "run-id"
OWNER = MARK + "owner"
EXPIRES = MARK + "expires-at"
ORIGINAL = MARK + "original-spec"
CREATED = MARK + "created"
OUR_ANNOTATIONS = (RUN_ID, OWNER, EXPIRES, ORIGINAL, CREATED)
T = TypeVar("T")


@dataclass(frozen=True)
class AppliedFault:
    """A fault in place: enough to restore it from this process (cleanup can do it from the marks)."""

    namespace: str
    name: str
    run_id: str
    created: bool
    before: VirtualServiceObject | None
    after: VirtualServiceObject


@dataclass(frozen=True)
class RestoreResult:
    namespace: str
    name: str
    action: str             # "restored", "deleted", "stripped (conflict)", "already gone"
    conflict: bool = False
    detail: str = ""


def find_virtual_service(backend: MeshBackend, fault: Fault, namespace: str) -> VirtualServiceObject | None:
    """The one VirtualService routing the fault's host (or named by it); none means we create one."""
    objects = backend.list_virtual_services(namespace)
    if fault.virtual_service:
        for obj in objects:
            if obj["metadata"]["name"] == fault.virtual_service:
                return obj
        raise ExperimentError(f"VirtualService {namespace}/{fault.virtual_service} not found", [])
    fqdn = resolve_host(fault.host, namespace)
    matches = [o for o in objects
               if fqdn in {resolve_host(h, o["metadata"].get("namespace", namespace)) for h in o["spec"].get("hosts", [])}]
    if len(matches) > 1:
        names = ", ".join(f"{o['metadata']['namespace']}/{o['metadata']['name']}" for o in matches)
        raise ExperimentError(f"several VirtualServices route {fqdn}: {names}", [],
                              hint="name the one to change with faults[].virtualService")
    return matches[0] if matches else None


def inject(backend: MeshBackend, fault: Fault, *, namespace: str, run_id: str, owner: str,
           ttl_s: float) -> AppliedFault:
    """Merge ``fault`` into the live VirtualService (or create one), marked for restore."""
    def attempt() -> AppliedFault:
        live = find_virtual_service(backend, fault, namespace)
        expires = (datetime.now(UTC) + timedelta(seconds=ttl_s)).isoformat(timespec="seconds")
        if live is None:
            name = f"chaos-{run_id}-{fault.host.split('.')[0]}"[:63]
            obj = {"metadata": {"name": name, "namespace": namespace, "annotations": {
                       RUN_ID: run_id, OWNER: owner, EXPIRES: expires, CREATED: "true"}},
                   "spec": new_virtual_service_spec(fault.host, fault, run_id)}
            return AppliedFault(namespace, name, run_id, True, None, backend.create_virtual_service(obj))
        _refuse_if_locked(live, run_id)
        marked = copy.deepcopy(live)
        annotations = marked["metadata"].setdefault("annotations", {})
        annotations.setdefault(ORIGINAL, json.dumps(live["spec"], sort_keys=True))
        annotations.update({RUN_ID: run_id, OWNER: owner, EXPIRES: expires})
        marked["spec"] = merge_fault(live["spec"], fault, run_id)
        created = annotations.get(CREATED) == "true"
        return AppliedFault(namespace, live["metadata"]["name"], run_id, created, live,
                            backend.replace_virtual_service(marked))

    return with_retries(attempt, what=f"inject the fault on {fault.host}")


def _refuse_if_locked(obj: VirtualServiceObject, run_id: str) -> None:
    annotations = obj["metadata"].get("annotations") or {}
    holder = annotations.get(RUN_ID)
    if holder and holder != run_id:
        name = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
        raise BackendError(f"VirtualService {name} is held by chaos run {holder} (owner "
                           f"{annotations.get(OWNER, 'unknown')}, expires {annotations.get(EXPIRES, '?')})",
                           hint="wait for it to finish, or run 'harness cleanup' if that run is dead")


def is_active(backend: MeshBackend, applied: AppliedFault) -> bool:
    """True while our routes are still in the live object (GitOps or a person may remove them)."""
    try:
        live = backend.get_virtual_service(applied.namespace, applied.name)
    except NotFoundError:
        return False
    return has_fault(live["spec"], applied.run_id)


def restore(backend: MeshBackend, namespace: str, name: str, run_id: str | None = None) -> RestoreResult:
    """Put a marked VirtualService back as it was (see the module docstring for conflicts)."""
    def attempt() -> RestoreResult:
        try:
            live = backend.get_virtual_service(namespace, name)
        except NotFoundError:
            return RestoreResult(namespace, name, "already gone")
        annotations = live["metadata"].get("annotations") or {}
        owner_run = annotations.get(RUN_ID)
        if owner_run is None or (run_id is not None and owner_run != run_id):
            return RestoreResult(namespace, name, "not ours", detail=f"marked by {owner_run or 'nobody'}")
        stripped = strip_fault(live["spec"], owner_run)
        version = live["metadata"]["resourceVersion"]
        if annotations.get(CREATED) == "true":
            other_routes = [r for r in stripped.get("http", []) if r.get("name") != "default"]
            if not other_routes:
                backend.delete_virtual_service(namespace, name, version)
                return RestoreResult(namespace, name, "deleted")
        original = json.loads(annotations[ORIGINAL]) if ORIGINAL in annotations else None
        clean = copy.deepcopy(live)
        clean["metadata"]["annotations"] = {k: v for k, v in annotations.items() if k not in OUR_ANNOTATIONS}
        if not clean["metadata"]["annotations"]:
            del clean["metadata"]["annotations"]
        conflict = original is None or _normalised(stripped) != _normalised(original)
        clean["spec"] = stripped if conflict else original
        backend.replace_virtual_service(clean)
        if conflict:
            return RestoreResult(namespace, name, "stripped (conflict)", True,
                                 "someone else changed the VirtualService during the run; their change was "
                                 "kept and only the chaos routes were removed")
        return RestoreResult(namespace, name, "restored")

    return with_retries(attempt, what=f"restore VirtualService {namespace}/{name}")


def marked_virtual_services(backend: MeshBackend, namespace: str | None, *, expired_only: bool,
                            now: datetime | None = None) -> list[VirtualServiceObject]:
    """Objects that carry our marks (only expired ones if asked)."""
    now = now or datetime.now(UTC)
    found = []
    for obj in backend.list_virtual_services(namespace):
        annotations = obj["metadata"].get("annotations") or {}
        if RUN_ID not in annotations:
            continue
        if expired_only:
            try:
                expires = datetime.fromisoformat(annotations.get(EXPIRES, ""))
            except ValueError:
                expires = now  # unreadable expiry: treat as expired
            if expires > now:
                continue
        found.append(obj)
    return found


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


def _normalised(spec: Any) -> str:
    return json.dumps(spec, sort_keys=True)
