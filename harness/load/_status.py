"""What the Locust master (or the lone Locust process) says about itself each second, in a JSON file.

Locust writes it (``updated``, inside the Locust process) next to samples.csv; the harness reads it
back (``read_status``) to start the baseline once every user sends, and to tell that workers were
lost mid-run. Connected workers are kept as a list of changes, so the file stays small however
long the run.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class WorkerLoss:
    """The master noticed ``lost`` fewer workers at ``t`` (at once when they quit, ~3 s late when killed)."""

    t: float
    lost: int
    connected: int  # workers left


@dataclass(frozen=True)
class LoadStatus:
    state: str                                       # Locust's runner state: spawning, running, stopped, ...
    users: int                                       # users running (on the workers, for a master)
    expected_workers: int                            # 0: one process, no workers
    workers: tuple[tuple[float, int], ...] = ()      # (t, connected) at each change of the count
    updated_at: float = 0.0

    def is_sending(self) -> bool:
        """Every user is spawned (for a master: on every expected worker, which Locust waits for)."""
        return self.state == "running"

    def losses(self) -> list[WorkerLoss]:
        """Every drop in the number of connected workers, in time order."""
        return [WorkerLoss(t, before - after, after)
                for (_, before), (t, after) in zip(self.workers, self.workers[1:], strict=False) if after < before]


def updated(previous: dict[str, Any] | None, *, now: float, state: str, users: int, expected_workers: int,
            connected_workers: int | None) -> dict[str, Any]:
    """The next status record (JSON-ready): the latest state, the worker count appended when it changed."""
    workers = list((previous or {}).get("workers", []))
    if connected_workers is not None and (not workers or workers[-1][1] != connected_workers):
        workers.append([now, connected_workers])
    return {"state": state, "users": users, "expected_workers": expected_workers, "workers": workers,
            "updated_at": now}


def write_status(path: Path, record: dict[str, Any]) -> None:
    """Replace the file in one step, so a reader never sees half a record."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(record))
    os.replace(partial, path)


def read_status(path: Path) -> LoadStatus | None:
    """The last record Locust wrote, or None before the first one."""
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None
    return LoadStatus(str(data["state"]), int(data["users"]), int(data["expected_workers"]),
                      tuple((float(t), int(n)) for t, n in data["workers"]), float(data["updated_at"]))
