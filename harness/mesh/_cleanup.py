"""What ``harness cleanup`` may touch: by default only runs whose marks have expired.

A live run of a colleague (marks not yet expired) is never restored behind its back; it is listed
as skipped, with the explicit ``--run RUN_ID`` or ``--all`` that would include it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from harness.mesh._backend import MeshBackend, MeshObject
from harness.mesh._marks import EXPIRES, OWNER, marked_objects, run_id_of


@dataclass(frozen=True)
class CleanupPlan:
    restore: list[MeshObject] = field(default_factory=list)
    skipped: list[MeshObject] = field(default_factory=list)  # marks of runs that are still live


def plan_cleanup(backend: MeshBackend, namespace: str | None, *, run_id: str | None = None,
                 everything: bool = False, now: datetime | None = None) -> CleanupPlan:
    """Marked objects to restore: one run's (``run_id``), all (``everything``), or only expired ones."""
    marked = marked_objects(backend, namespace, expired_only=False, run_id=run_id)
    if run_id is not None or everything:
        return CleanupPlan(marked)
    expired = {_key(o) for o in marked_objects(backend, namespace, expired_only=True, now=now)}
    return CleanupPlan([o for o in marked if _key(o) in expired], [o for o in marked if _key(o) not in expired])


def describe_mark(obj: MeshObject) -> str:
    annotations = obj["metadata"].get("annotations") or {}
    return (f"run {run_id_of(obj)} (owner {annotations.get(OWNER, 'unknown')}, "
            f"expires {annotations.get(EXPIRES, '?')})")


def _key(obj: MeshObject) -> tuple[str, str, str]:
    return obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"]

