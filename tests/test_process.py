"""The process module against real child processes."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from harness._process import ProcessRecord, is_running, start_process, stop_process, wait_until
from harness.errors import ProcessExitedError, ReadinessTimeout


def test_stop_sends_term_then_kill_to_a_child_that_ignores_term(tmp_path: Path) -> None:
    code = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"
    child = start_process("stubborn", [sys.executable, "-c", code], log_path=tmp_path / "log")
    wait_until(lambda: "up" in child.output_tail(), what="start", deadline_s=10, watch=[child])
    started = time.monotonic()
    child.stop(timeout_s=0.5)
    assert not child.is_alive()
    assert time.monotonic() - started < 5


def test_stop_works_from_a_record_alone(tmp_path: Path) -> None:
    child = start_process("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], log_path=tmp_path / "l")
    record = ProcessRecord.from_dict(child.record.to_dict())
    assert is_running(record)
    stop_process(record)
    child.popen.wait(5)  # type: ignore[union-attr]
    assert not is_running(record)


def test_a_reused_pid_is_not_mistaken_for_the_recorded_process(tmp_path: Path) -> None:
    child = start_process("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], log_path=tmp_path / "l")
    stale = ProcessRecord("sleeper", child.pid, (child.record.start_ticks or 0) + 1, str(tmp_path / "l"))
    assert not is_running(stale)
    stop_process(stale)  # must not signal the live process
    assert child.is_alive()
    child.stop()


def test_exit_during_readiness_wait_reports_the_output_tail(tmp_path: Path) -> None:
    child = start_process("crasher", [sys.executable, "-c", "print('bad config: port in use'); raise SystemExit(3)"],
                          log_path=tmp_path / "log")
    with pytest.raises(ProcessExitedError, match="bad config: port in use"):
        wait_until(lambda: False, what="readiness", deadline_s=10, watch=[child])


def test_readiness_timeout_names_what_it_waited_for(tmp_path: Path) -> None:
    child = start_process("idle", [sys.executable, "-c", "import time; time.sleep(60)"], log_path=tmp_path / "log")
    try:
        with pytest.raises(ReadinessTimeout, match="waiting for the port"):
            wait_until(lambda: False, what="the port", deadline_s=0.2, watch=[child])
    finally:
        child.stop()


def test_children_run_in_their_own_session(tmp_path: Path) -> None:
    import os

    child = start_process("sleeper", [sys.executable, "-c", "import time; time.sleep(60)"], log_path=tmp_path / "l")
    try:
        assert os.getsid(child.pid) == child.pid  # a terminal Ctrl-C reaches the harness, not the child
    finally:
        child.stop()
