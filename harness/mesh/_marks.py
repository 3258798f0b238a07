"""The marks a run leaves on what it changes: who changed it, until when, and what was there before.

They are annotations (``chaos.harness.io/*``) written in the same request as the change itself, so
an object never carries a change of ours without the marks that let ``harness cleanup`` undo it.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from harness.istio._merge import chaos_route_prefix
from harness.mesh._backend import KINDS, MeshBackend, MeshObject

MARK = "chaos.harness.io/"
RUN_ID = MARK + "run-id"
OWNER = MARK + "owner"
EXPIRES = MARK + "expires-at"
ORIGINAL = MARK + "original-spec"
CREATED = MARK + "created"
APPLIED = MARK + "applied-spec-sha256"
OUR_ANNOTATIONS = (RUN_ID, OWNER, EXPIRES, ORIGINAL, CREATED, APPLIED)
VIRTUAL_SERVICE = "VirtualService"


def new_marks(run_id: str, owner: str, ttl_s: float) -> dict[str, str]:
    expires = (datetime.now(UTC) + timedelta(seconds=ttl_s)).isoformat(timespec="seconds")
    return {RUN_ID: run_id, OWNER: owner, EXPIRES: expires}


def annotations_of(obj: MeshObject) -> dict[str, str]:
    return dict(obj["metadata"].get("annotations") or {})


def run_id_of(obj: MeshObject) -> str | None:
    """The chaos run whose marks the object carries, if any."""
    return annotations_of(obj).get(RUN_ID)


def without_marks(annotations: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in annotations.items() if k not in OUR_ANNOTATIONS}


def chaos_routes(spec: Any, run_id: str) -> list[str]:
    """Names of the routes ``run_id`` put into a VirtualService spec."""
    prefix = chaos_route_prefix(run_id)
    return [str(r.get("name")) for r in (spec or {}).get("http") or [] if str(r.get("name", "")).startswith(prefix)]


def marked_objects(backend: MeshBackend, namespace: str | None, *, expired_only: bool,
                   now: datetime | None = None, run_id: str | None = None) -> list[MeshObject]:
    """Objects of every kind that carry our marks (only expired ones, or one run's, if asked)."""
    now = now or datetime.now(UTC)
    found = []
    for kind in KINDS:
        for obj in backend.list_objects(kind, namespace):
            annotations = annotations_of(obj)
            if RUN_ID not in annotations or run_id not in (None, annotations[RUN_ID]):
                continue
            if expired_only and not _is_expired(annotations, now):
                continue
            found.append({"kind": kind, **obj})
    return found


def _is_expired(annotations: dict[str, str], now: datetime) -> bool:
    try:
        return datetime.fromisoformat(annotations.get(EXPIRES, "")) <= now
    except ValueError:
        return True  # unreadable expiry: treat as expired


def marked_virtual_services(backend: MeshBackend, namespace: str | None, *, expired_only: bool,
                            now: datetime | None = None) -> list[MeshObject]:
    return [o for o in marked_objects(backend, namespace, expired_only=expired_only, now=now)
            if o["kind"] == VIRTUAL_SERVICE]


def digest(spec: Any) -> str:
    return hashlib.sha256(json.dumps(canonical(spec), sort_keys=True).encode()).hexdigest()


def canonical(value: Any) -> Any:
    """JSON as the API server gives it back: it stores a written ``1.0`` as ``1`` (Go's int64 decoding)."""
    if isinstance(value, dict):
        return {k: canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
