"""Start, watch and stop child processes: the only place the harness spawns anything.

Children run in their own session (so a Ctrl-C in the terminal reaches the harness, which then
stops them in order) and write stdout and stderr to a log file whose tail goes into errors.
Each child is recorded by PID *and* kernel start time, so a later ``stop`` from another process
never signals an unrelated process that reused the PID.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from harness.errors import ProcessExitedError, ProcessStartError, ReadinessTimeout


@dataclass(frozen=True)
class ProcessRecord:
    """What is needed to find and stop a process later, from any process."""

    name: str
    pid: int
    start_ticks: int | None
    log_path: str

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> ProcessRecord:
        ticks = data.get("start_ticks")
        return cls(str(data["name"]), int(str(data["pid"])), int(str(ticks)) if ticks is not None else None,
                   str(data["log_path"]))


class ChildProcess:
    """A started process; ``popen`` is None when it was started by another harness process."""

    def __init__(self, record: ProcessRecord, popen: subprocess.Popen[bytes] | None = None) -> None:
        self.record = record
        self.popen = popen

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def pid(self) -> int:
        return self.record.pid

    def is_alive(self) -> bool:
        if self.popen is not None:
            return self.popen.poll() is None
        return is_running(self.record)

    def output_tail(self, lines: int = 25) -> str:
        return log_tail(Path(self.record.log_path), lines)

    def stop(self, timeout_s: float = 5.0) -> None:
        stop_process(self.record, timeout_s=timeout_s, popen=self.popen)


def start_process(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ChildProcess:
    """Start ``argv`` detached in its own session, logging to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    merged_env = {**os.environ, **(env or {})}
    with open(log_path, "ab") as log:
        try:
            popen = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                env=merged_env, cwd=cwd, start_new_session=True,
            )
        except OSError as exc:
            raise ProcessStartError(f"cannot start {name} ({argv[0]}): {exc.strerror}") from None
    record = ProcessRecord(name, popen.pid, _start_ticks(popen.pid), str(log_path))
    return ChildProcess(record, popen)


def wait_until(
    is_ready: Callable[[], bool],
    *,
    what: str,
    deadline_s: float,
    watch: Iterable[ChildProcess] = (),
    interval_s: float = 0.02,
) -> float:
    """Poll ``is_ready`` until true; fail early if a watched process exits. Returns seconds waited."""
    watched = list(watch)
    started = time.monotonic()
    while True:
        for child in watched:
            if not child.is_alive():
                raise ProcessExitedError(
                    f"{child.name} exited while waiting for {what}; last output:\n{child.output_tail()}"
                )
        with contextlib.suppress(OSError):
            if is_ready():
                return time.monotonic() - started
        if time.monotonic() - started > deadline_s:
            tails = "".join(f"\n--- {c.name} ---\n{c.output_tail()}" for c in watched)
            raise ReadinessTimeout(f"timed out after {deadline_s:.0f}s waiting for {what}{tails}")
        time.sleep(interval_s)


def stop_process(
    record: ProcessRecord, *, timeout_s: float = 5.0, popen: subprocess.Popen[bytes] | None = None
) -> None:
    """Send TERM, wait up to ``timeout_s``, then KILL. Does nothing if the process is gone."""
    if not is_running(record):
        _reap(popen)
        return
    _signal(record.pid, signal.SIGTERM)
    if not _wait_gone(record, popen, timeout_s):
        _signal(record.pid, signal.SIGKILL)
        _wait_gone(record, popen, 5.0)


def is_running(record: ProcessRecord) -> bool:
    """True if the recorded process (same PID and start time) still runs and is not a zombie."""
    ticks = _start_ticks(record.pid)
    if ticks is None:
        return False
    if record.start_ticks is not None and ticks != record.start_ticks:
        return False  # the PID was reused by another process
    return _state(record.pid) not in {"Z", "X"}


def log_tail(path: Path, lines: int = 25) -> str:
    """Return the last ``lines`` lines of a log file (empty if it does not exist)."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - 16384))
            data = handle.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def _wait_gone(record: ProcessRecord, popen: subprocess.Popen[bytes] | None, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _reap(popen)
        if not is_running(record):
            return True
        time.sleep(0.02)
    return False


def _reap(popen: subprocess.Popen[bytes] | None) -> None:
    if popen is not None:
        popen.poll()


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _proc_stat(pid: int) -> list[str] | None:
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # the command name (field 2) may contain spaces; everything after the last ')' is space-separated
    return raw[raw.rindex(")") + 2 :].split()


def _start_ticks(pid: int) -> int | None:
    fields = _proc_stat(pid)
    return int(fields[19]) if fields else None  # field 22 of /proc/PID/stat


def _state(pid: int) -> str | None:
    fields = _proc_stat(pid)
    return fields[0] if fields else None
