"""Inject faults (and apply the policies under test), marked so that everything can be put back.

Before the first write, the original spec, run id, owner and an expiry time go onto the object as
annotations, in the same write as the change (so a kill between two writes cannot leave an
unmarked change). Every write carries the resourceVersion it read. Putting things back is
``_restore.py``'s job.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from harness.errors import BackendError, ConflictError, ExperimentError, NotFoundError, TransientBackendError
from harness.experiment import Fault
from harness.istio import resolve_host
from harness.istio._merge import has_fault, merge_fault, new_virtual_service_spec
from harness.mesh._backend import MeshBackend, MeshObject, list_widely
from harness.mesh._marks import (
    APPLIED,
    CREATED,
    EXPIRES,
    ORIGINAL,
    OWNER,
    RUN_ID,
    VIRTUAL_SERVICE,
    annotations_of,
    chaos_routes,
    digest,
    new_marks,
)

log = logging.getLogger(__name__)
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


def inject(backend: MeshBackend, fault: Fault, *, namespace: str, run_id: str, owner: str,
           ttl_s: float) -> AppliedFault:
    """Merge ``fault`` into the live VirtualService (or create one), marked for restore.

    A retried write checks first whether the previous one landed although its answer was lost (a timeout after
    commit): merging again would add a second chaos route and take the faulted spec for the original.
    """
    sent: list[AppliedFault] = []  # the write in flight: what it started from and what it wrote

    def attempt() -> AppliedFault:
        live = find_virtual_service(backend, fault, namespace)
        if sent and live is not None and _landed(live, sent[-1], run_id):
            return replace(sent[-1], after=live)
        if live is None:
            name = f"chaos-{run_id}-{fault.host.split('.')[0]}"[:63]
            obj = {"kind": VIRTUAL_SERVICE, "metadata": {"name": name, "namespace": namespace, "annotations": {
                       **new_marks(run_id, owner, ttl_s), CREATED: "true"}},
                   "spec": new_virtual_service_spec(fault.host, fault, run_id)}
            sent.append(AppliedFault(namespace, name, run_id, True, None, obj, fault=fault))
            return replace(sent[-1], after=backend.create_object(obj))
        _refuse_if_locked(live, run_id)
        marked = copy.deepcopy(live)
        annotations = marked["metadata"].setdefault("annotations", {})
        annotations.setdefault(ORIGINAL, json.dumps(live["spec"], sort_keys=True))
        annotations.update(new_marks(run_id, owner, ttl_s))
        marked["spec"] = merge_fault(live["spec"], fault, run_id)
        created = annotations.get(CREATED) == "true"
        sent.append(AppliedFault(namespace, live["metadata"]["name"], run_id, created, live, marked, fault=fault))
        return replace(sent[-1], after=backend.replace_object(marked))

    return with_retries(attempt, what=f"inject the fault on {fault.host}")


def _landed(live: MeshObject, sent: AppliedFault, run_id: str) -> bool:
    """Whether ``live`` is the result of the write ``sent`` (which the caller never heard back from)."""
    if annotations_of(live).get(RUN_ID) != run_id or live["metadata"]["name"] != sent.name:
        return False
    if sent.kind != VIRTUAL_SERVICE:
        return annotations_of(live).get(APPLIED) == annotations_of(sent.after).get(APPLIED)
    before = chaos_routes(sent.before["spec"], run_id) if sent.before is not None else []
    return chaos_routes(live["spec"], run_id) == chaos_routes(sent.after["spec"], run_id) != before


def apply_policy(backend: MeshBackend, obj: MeshObject, *, run_id: str, owner: str, ttl_s: float) -> AppliedFault:
    """Create or replace a policy object for the run (e.g. a DestinationRule under test), marked for restore."""
    kind, meta = obj["kind"], obj["metadata"]
    namespace, name = meta.get("namespace", "default"), meta["name"]

    sent: list[AppliedFault] = []  # the write in flight (see inject: its answer may be lost after it landed)

    def attempt() -> AppliedFault:
        try:
            live: MeshObject | None = backend.get_object(kind, namespace, name)
        except NotFoundError:
            live = None
        if sent and live is not None and _landed(live, sent[-1], run_id):
            return replace(sent[-1], after=live)
        desired = copy.deepcopy(obj)
        desired["metadata"] = copy.deepcopy(live["metadata"]) if live else {"name": name, "namespace": namespace}
        annotations = desired["metadata"].setdefault("annotations", {})
        annotations.update(new_marks(run_id, owner, ttl_s))
        annotations[APPLIED] = digest(obj["spec"])
        if live is None:
            annotations[CREATED] = "true"
            sent.append(AppliedFault(namespace, name, run_id, True, None, desired, kind))
            return replace(sent[-1], after=backend.create_object(desired))
        _refuse_if_locked(live, run_id)
        annotations.setdefault(ORIGINAL, json.dumps(live["spec"], sort_keys=True))
        sent.append(AppliedFault(namespace, name, run_id, False, live, desired, kind))
        return replace(sent[-1], after=backend.replace_object(desired))

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
