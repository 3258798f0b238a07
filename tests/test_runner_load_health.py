"""A run whose Locust workers die mid fault ends INCONCLUSIVE "load did not hold", reverted (real sandbox, real Locust)."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness.suite import run_suite
from harness.verdict import Outcome
from tests.conftest import sandbox_target

pytestmark = [pytest.mark.sandbox]

WORKERS_KILLED = """
apiVersion: harness/v1
kind: Experiment
metadata: {name: workers-killed, owner: tests}
target: {namespace: shop}
faults: [{host: productcatalog, abort: {httpStatus: 503}}]
phases: {baseline: 4s, fault: 6s, recovery: 3s}
load: {users: 4, rate: 40, taggedShare: 0.5, workers: 2}
hypotheses:
  - {name: tagged fails, measure: error_rate, cohort: tagged, phase: fault, above: 0.5}
  - {name: control untouched, measure: error_rate, cohort: control, phase: fault, below: 0.05}
  - {name: the mesh sees the frontend's calls fail, measure: error_rate, source: mesh, service: productcatalog,
     sourceWorkload: frontend-v1, phase: fault, above: 0.2}
"""


def specs(sandbox: Any) -> dict[str, Any]:
    return {f'{o["kind"]}/{o["metadata"]["name"]}': (o["spec"], o["metadata"].get("annotations"))
            for o in sandbox.istio.list()}


def locust_workers(folder: Path) -> list[int]:
    """PIDs of the Locust workers writing into ``folder`` (found through /proc, never by name)."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if b"--worker" in cmdline and b"locust" in cmdline and str(folder) in environ:
            pids.append(int(proc.name))
    return pids


class WorkerKiller:
    """Sends ``signum`` to the run's Locust workers ``after_s`` into the fault phase, from a thread."""

    def __init__(self, folder: Path, after_s: float, signum: int) -> None:
        self.folder, self.after_s, self.signum = folder, after_s, signum
        self.killed: list[int] = []
        self.lines: list[str] = []
        self._thread: threading.Thread | None = None

    def progress(self, line: str) -> None:
        self.lines.append(line)
        if "fault active after" in line and self._thread is None:
            self._thread = threading.Thread(target=self._kill, daemon=True)
            self._thread.start()

    def _kill(self) -> None:
        time.sleep(self.after_s)
        for pid in locust_workers(self.folder):
            os.kill(pid, self.signum)
            self.killed.append(pid)


# SIGKILL (an OOM kill): the master notices by its heartbeat ~3 s later and stays up without workers.
# SIGTERM: each worker says "quit", and Locust's master quits with its last one; the run must go on.
@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_workers_killed_mid_fault_make_every_verdict_inconclusive_and_the_fault_is_reverted(
        demo: Any, tmp_path: Path, signum: int) -> None:
    before = specs(demo)
    (tmp_path / "exp.yaml").write_text(WORKERS_KILLED)
    killer = WorkerKiller(tmp_path / "reports", after_s=2.5, signum=signum)
    started = time.monotonic()
    suite = run_suite([tmp_path / "exp.yaml"], sandbox_target(demo), report_root=tmp_path / "reports",
                      progress=killer.progress)
    took = time.monotonic() - started
    ((result, folder),) = suite.runs
    assert len(killer.killed) == 2, killer.lines
    assert result.status == "completed", result.error
    assert specs(demo) == before  # the fault was reverted as usual
    assert [v.outcome for v in result.verdicts] == [Outcome.INCONCLUSIVE] * 3
    for verdict in result.verdicts:
        assert verdict.reason.startswith("load did not hold: "), verdict.reason
        assert "2 of 2 Locust workers lost at " in verdict.reason and "of the configured 40" in verdict.reason
    assert any("Locust workers lost" in line for line in killer.lines)  # said while it happened
    assert any(line.startswith("LOAD DID NOT HOLD") for line in killer.lines)
    journal = json.loads((folder / "journal.json").read_text())
    assert journal["outcome"] == "INCONCLUSIVE"
    assert any(note.startswith("load did not hold: 2 of 2 Locust workers lost") for note in journal["notes"])
    rates = journal["load_summary"]["load"]["phases"]
    assert rates["baseline"]["achieved_per_s"] >= 36 and rates["fault"]["achieved_per_s"] < 36
    assert suite.exit_code() == 4
    assert took < 45
