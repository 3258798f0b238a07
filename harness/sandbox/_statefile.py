"""``state.json``: the sandbox's URLs and every PID it started, shared by every process that finds it.

A restart replaces a process record while another process may stop the sandbox, so every change is a
read-modify-write under an exclusive file lock, written by atomic rename.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

STATE_FILE = "state.json"


def read_state(state_dir: Path) -> dict[str, Any] | None:
    """The recorded state, or None when there is none (or it is unreadable)."""
    try:
        return dict(json.loads((state_dir / STATE_FILE).read_text()))
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def _locked(state_dir: Path) -> Iterator[None]:
    state_dir.mkdir(parents=True, exist_ok=True)
    with open(state_dir / ".state.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _write(state_dir: Path, state: dict[str, Any]) -> None:
    tmp = state_dir / f".{STATE_FILE}.{os.getpid()}.tmp"
    tmp.write_text(json.dumps(state, indent=1))
    os.replace(tmp, state_dir / STATE_FILE)


def write_state(state_dir: Path, state: dict[str, Any]) -> None:
    with _locked(state_dir):
        _write(state_dir, state)


def update_state(state_dir: Path, change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Apply ``change`` to the stored state under the lock; return the new state."""
    with _locked(state_dir):
        state = read_state(state_dir) or {}
        change(state)
        _write(state_dir, state)
        return state
