"""The history store: one JSON line per run, appended by ``harness run --history-store`` and read by ``harness history``.

Report folders hold everything about a run but grow by megabytes a run, so a game day pruning them
would lose its trends. The store keeps what the history page draws, a few hundred bytes a run:
name, run id, game day, start and end, status and outcome, the score's inputs, each hypothesis
(outcome, value, interval, window), activation latency, time to recover and the report folder.

Appends are whole lines in one write under an exclusive lock; a writer that died mid-line leaves a
torn last line, which the reader skips (and says so) and the next append starts on a fresh line.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import ReportError
from harness.report._history import Run, game_day_of, load_run, run_folders, verdict_from
from harness.report._result import RunResult, RunStatus

STORE_VERSION = 1
_VERDICT_KEYS = ("name", "outcome", "reason", "measure", "source", "phase", "cohort", "value", "interval", "bound",
                 "samples", "window")


@dataclass(frozen=True)
class StoreContents:
    """The runs a store holds, oldest first, and the lines it could not read (1-based numbers, with why)."""

    runs: list[Run]
    skipped: list[str]


def run_record(result: RunResult, folder: Path, store_dir: Path) -> dict[str, Any]:
    """One run as its store line holds it; paths inside the store's folder are kept relative to it."""
    from harness.report._history_page import recovered_within_s

    verdicts = [{key: _plain(getattr(v, key)) for key in _VERDICT_KEYS} for v in result.verdicts]
    return {"v": STORE_VERSION, "name": result.name, "run_id": result.run_id,
            "game_day": _relative(Path(game_day_of(folder)), store_dir), "started_at": result.started_at,
            "ended_at": result.ended_at, "status": str(result.status), "outcome": result.outcome.value,
            "passed": sum(v["outcome"] == "PASS" for v in verdicts), "hypotheses": verdicts,
            "phases": {k: list(v) for k, v in result.phases.items()},
            "activation_latency_s": result.activation_latency_s, "recovered_within_s": recovered_within_s(result),
            "report": _relative(folder, store_dir)}


def append_runs(path: Path, runs: Iterable[tuple[RunResult, Path]]) -> int:
    """Append one line per run to the store at ``path`` (created with its folder); returns how many."""
    lines = [json.dumps(run_record(result, folder, path.parent), allow_nan=False) for result, folder in runs]
    if not lines:
        return 0
    data = ("\n".join(lines) + "\n").encode()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)  # one writer at a time, even on the same node
            if _ends_torn(path):
                data = b"\n" + data  # never glue a record onto a half-written one
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise ReportError(f"cannot append to the history store {path}: {exc.strerror or exc}") from None
    return len(lines)


def read_store(path: Path) -> StoreContents:
    """Every run in the store, oldest first; unreadable lines (a torn last write) are skipped and listed."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return StoreContents([], [f"{path} does not exist yet: no run has been appended"])
    except OSError as exc:
        raise ReportError(f"cannot read the history store {path}: {exc.strerror or exc}") from None
    runs, skipped = [], []
    lines = text.split("\n")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            runs.append(_run(json.loads(line), path.parent))
        except (ValueError, KeyError, TypeError) as exc:
            torn = number == len(lines) and not text.endswith("\n")
            skipped.append(f"{path}:{number}: " + ("a partly written last line (a writer stopped mid-write)"
                                                   if torn else f"not a run record ({exc})"))
    return StoreContents(sorted(runs, key=lambda r: r.result.started_at), skipped)


def collect_runs(roots: Iterable[Path], store: Path | None = None) -> StoreContents:
    """Runs from the store and from every journal under ``roots``; a run in both comes from its folder."""
    contents = read_store(store) if store is not None else StoreContents([], [])
    by_run = {_key(r): r for r in contents.runs}
    for folder in run_folders(roots):
        with contextlib.suppress(ReportError):  # not a run folder: the listing has always skipped those
            run = load_run(folder)
            by_run[_key(run)] = run
    return StoreContents(sorted(by_run.values(), key=lambda r: r.result.started_at), contents.skipped)


def _key(run: Run) -> tuple[str, str, float]:
    return run.result.name, run.result.run_id, run.result.started_at


def _run(data: dict[str, Any], store_dir: Path) -> Run:
    if data.get("v") != STORE_VERSION:
        raise ValueError(f"unknown store version {data.get('v')!r}")
    result = RunResult(data["name"], data["run_id"], "", {}, status=RunStatus(data["status"]),
                       started_at=float(data["started_at"]), ended_at=float(data["ended_at"]),
                       phases={k: (float(a), float(b)) for k, (a, b) in data.get("phases", {}).items()},
                       activation_latency_s=data.get("activation_latency_s"),
                       verdicts=[verdict_from(v) for v in data["hypotheses"]])
    return Run(result, store_dir / data["report"], str(store_dir / data["game_day"]))


def _plain(value: Any) -> Any:
    """JSON without NaN or infinities: the journal's spelling ("inf"), tuples as lists, enums as values."""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return getattr(value, "value", value)


def _relative(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` when inside it (a store copied with its folders still finds them)."""
    resolved, root = path.resolve(), base.resolve()
    return str(resolved.relative_to(root)) if resolved.is_relative_to(root) else str(resolved)


def _ends_torn(path: Path) -> bool:
    with open(path, "rb") as handle:
        if handle.seek(0, os.SEEK_END) == 0:
            return False
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) != b"\n"
