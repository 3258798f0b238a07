"""One run per target: a coordination.k8s.io Lease per VirtualService a run will change.

The Lease carries the holder (the run id), its owner, and when it was last renewed; a run renews it
while it lives (the heartbeat). A Lease whose ``renewTime + leaseDurationSeconds`` has passed
belongs to a dead run (``kill -9``, a lost node) and may be taken over, as client-go's leader
election does (https://kubernetes.io/docs/concepts/architecture/leases/). Every write carries the
resourceVersion it read, so two runs racing for one target cannot both win.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from harness.errors import BackendError, ConflictError, NotFoundError
from harness.mesh._backend import MeshBackend, MeshObject

LEASE = "Lease"
PREFIX = "chaos-harness-"
OWNER_ANNOTATION = "chaos.harness.io/owner"
DEFAULT_DURATION_S = 60


def lease_name(virtual_service: str) -> str:
    return (PREFIX + virtual_service)[:253]


@dataclass(frozen=True)
class Holder:
    run_id: str
    owner: str
    renewed_at: datetime
    duration_s: int

    @property
    def expires_at(self) -> datetime:
        return self.renewed_at + timedelta(seconds=self.duration_s)

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at <= (now or datetime.now(UTC))


def holder_of(lease: MeshObject) -> Holder | None:
    spec = lease.get("spec") or {}
    if not spec.get("holderIdentity"):
        return None
    renewed = spec.get("renewTime") or spec.get("acquireTime")
    try:
        renewed_at = datetime.fromisoformat(str(renewed).replace("Z", "+00:00"))
    except ValueError:
        renewed_at = datetime.fromtimestamp(0, UTC)  # unreadable: treat as long expired
    return Holder(str(spec["holderIdentity"]), (lease["metadata"].get("annotations") or {}).get(OWNER_ANNOTATION, "?"),
                  renewed_at, int(spec.get("leaseDurationSeconds") or DEFAULT_DURATION_S))


def _micro_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # metav1.MicroTime


class RunLock:
    """The Leases of one run; ``acquire`` before the baseline, ``renew`` while running, ``release`` at the end."""

    def __init__(self, backend: MeshBackend, namespace: str, targets: list[str], *, run_id: str, owner: str,
                 duration_s: int = DEFAULT_DURATION_S) -> None:
        self._backend = backend
        self._namespace = namespace
        self._names = [lease_name(t) for t in dict.fromkeys(targets)]
        self._run_id = run_id
        self._owner = owner
        self._duration_s = duration_s
        self._held: list[str] = []

    def acquire(self) -> None:
        """Take every target's Lease, or none: a held one raises BackendError naming its run and owner."""
        try:
            for name in self._names:
                self._take(name)
                self._held.append(name)
        except BaseException:
            self.release()
            raise

    def renew(self) -> None:
        for name in self._held:
            lease = self._backend.get_object(LEASE, self._namespace, name)
            holder = holder_of(lease)
            if holder is None or holder.run_id != self._run_id:
                raise BackendError(f"Lease {self._namespace}/{name} was taken by run "
                                   f"{holder.run_id if holder else 'nobody'} while this run held it")
            lease["spec"]["renewTime"] = _micro_time(datetime.now(UTC))
            self._backend.replace_object(lease)

    def release(self) -> None:
        for name in reversed(self._held):
            with contextlib.suppress(NotFoundError, ConflictError):
                release_lease(self._backend, self._namespace, name, run_id=self._run_id)
        self._held = []

    def _take(self, name: str) -> None:
        now = datetime.now(UTC)
        spec = {"holderIdentity": self._run_id, "leaseDurationSeconds": self._duration_s,
                "acquireTime": _micro_time(now), "renewTime": _micro_time(now)}
        try:
            lease = self._backend.get_object(LEASE, self._namespace, name)
        except NotFoundError:
            self._backend.create_object({"kind": LEASE, "metadata": {
                "name": name, "namespace": self._namespace, "annotations": {OWNER_ANNOTATION: self._owner},
                "labels": {"app.kubernetes.io/managed-by": "istio-chaos-harness"}}, "spec": spec})
            return
        holder = holder_of(lease)
        if holder is not None and holder.run_id != self._run_id and not holder.is_expired(now):
            raise BackendError(
                f"target {self._namespace}/{name.removeprefix(PREFIX)} is held by chaos run {holder.run_id} "
                f"(owner {holder.owner}, lease expires {holder.expires_at.isoformat(timespec='seconds')})",
                hint="wait for that run to end; if it died, its lease expires by itself and "
                     "'harness cleanup' restores what it left")
        transitions = int((lease.get("spec") or {}).get("leaseTransitions") or 0) + 1
        lease["spec"] = {**spec, "leaseTransitions": transitions}
        lease["metadata"].setdefault("annotations", {})[OWNER_ANNOTATION] = self._owner
        self._backend.replace_object(lease)  # a 409 here: another run won the race


def release_lease(backend: MeshBackend, namespace: str, name: str, *, run_id: str | None = None) -> bool:
    """Delete a Lease if ``run_id`` holds it (or, with None, if its holder's time is up); True when deleted."""
    lease = backend.get_object(LEASE, namespace, name)
    holder = holder_of(lease)
    if run_id is not None and (holder is None or holder.run_id != run_id):
        return False
    if run_id is None and holder is not None and not holder.is_expired():
        return False
    backend.delete_object(LEASE, namespace, name, lease["metadata"]["resourceVersion"])
    return True


def stale_leases(backend: MeshBackend, namespace: str | None, *, run_id: str | None = None,
                 everything: bool = False) -> list[MeshObject]:
    """Our Leases whose holder stopped renewing, or that ``run_id`` holds (a run the user names is over),
    or all of ours with ``everything``: what ``harness cleanup`` takes over and removes."""
    found = []
    for lease in backend.list_objects(LEASE, namespace):
        holder = holder_of(lease)
        if not lease["metadata"]["name"].startswith(PREFIX):
            continue
        if everything or holder is None or holder.is_expired() or (run_id is not None and holder.run_id == run_id):
            found.append(lease)
    return found
