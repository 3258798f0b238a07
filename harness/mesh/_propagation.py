"""Has istiod pushed a change to the proxies? Istio's config status says so on the object itself.

With ``PILOT_ENABLE_STATUS`` (https://istio.io/latest/docs/reference/config/config-status/) istiod
writes ``status.observedGeneration`` and a ``Reconciled`` condition ("N/N proxies up to date") onto
each object; ``observedGeneration`` is an int64, which protojson renders as a string. The sandbox's
istiod does the same. Clusters without it give no status at all: callers then fall back to traffic
evidence (FI/DI response flags) and say so.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from harness.errors import ConfigRejectedError
from harness.mesh._backend import MeshBackend, MeshObject

STILL_PROPAGATING = "stillPropagating"


@dataclass(frozen=True)
class SyncState:
    generation: int
    observed_generation: int | None
    reconciled: bool | None      # None: the object carries no Reconciled condition (status tracking off)
    reason: str = ""
    message: str = ""

    @property
    def is_synced(self) -> bool:
        return bool(self.reconciled) and (self.observed_generation or 0) >= self.generation

    @property
    def is_rejected(self) -> bool:
        """A proxy refused this generation (NACK), as opposed to a push still on its way."""
        return (self.reconciled is False and (self.observed_generation or 0) >= self.generation
                and self.reason not in ("", STILL_PROPAGATING))


def sync_state(obj: MeshObject) -> SyncState:
    status = obj.get("status") or {}
    condition = next((c for c in status.get("conditions") or [] if c.get("type") == "Reconciled"), None)
    observed = status.get("observedGeneration")
    return SyncState(
        generation=int(obj["metadata"].get("generation") or 0),
        observed_generation=int(observed) if observed not in (None, "") else None,
        reconciled=None if condition is None else str(condition.get("status")) == "True",
        reason=str((condition or {}).get("reason") or ""), message=str((condition or {}).get("message") or ""))


def wait_synced(backend: MeshBackend, kind: str, namespace: str, name: str, *, generation: int,
                deadline_s: float, poll_s: float = 0.1) -> SyncState | None:
    """The state once ``generation`` (or a later one) is in every proxy; None when the deadline passed first.

    Raises ConfigRejectedError when a proxy NACKed it: the old config still serves there.
    """
    end = time.monotonic() + deadline_s
    while True:
        state = sync_state(backend.get_object(kind, namespace, name))
        if state.generation >= generation and state.is_synced:
            return state
        if state.is_rejected:
            raise ConfigRejectedError(f"{kind} {namespace}/{name} generation {state.generation} was rejected by "
                                      f"the data plane: {state.message or state.reason}")
        if time.monotonic() >= end:
            return None
        time.sleep(poll_s)
