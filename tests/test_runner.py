"""`harness run` end to end on the real sandbox: verdicts, exact restore, reports, Ctrl-C, kill -9."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from harness._process import ProcessRecord, is_running
from harness.suite import run_suite
from harness.verdict import Outcome
from tests.conftest import sandbox_target

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

ABORT = """
apiVersion: harness/v1
kind: Experiment
metadata: {name: abort-e2e, owner: tests}
target: {namespace: shop}
faults: [{host: productcatalog, abort: {httpStatus: 503}}]
phases: {baseline: 3s, fault: 6s, recovery: 3s}
load: {users: 6, rate: 60, taggedShare: 0.5}
hypotheses:
  - {name: tagged fails, measure: error_rate, cohort: tagged, phase: fault, above: 0.5}
  - {name: control untouched, measure: error_rate, cohort: control, phase: fault, below: 0.05}
  - {name: nobody tagged in baseline fails, measure: error_rate, cohort: tagged, phase: baseline, below: 0.1}
  - {name: the mesh sees the frontend's calls fail, measure: error_rate, source: mesh, service: productcatalog,
     sourceWorkload: frontend-v1, phase: fault, above: 0.2}
"""


def specs(sandbox: Any) -> dict[str, Any]:
    return {f'{o["kind"]}/{o["metadata"]["name"]}': (o["spec"], o["metadata"].get("annotations"))
            for o in sandbox.istio.list()}


def write(tmp_path: Path, text: str, name: str = "exp.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_run_scoped_abort_passes_restores_exactly_and_reports(demo: Any, tmp_path: Path) -> None:
    before = specs(demo)
    target = sandbox_target(demo)
    suite = run_suite([write(tmp_path, ABORT)], target, report_root=tmp_path / "reports", progress=lambda _: None,
                      junit=tmp_path / "junit.xml")
    ((result, folder),) = suite.runs
    assert [v.outcome for v in result.verdicts] == [Outcome.PASS] * 4, [v.reason for v in result.verdicts]
    assert result.status == "completed"
    assert specs(demo) == before
    assert 0 < result.activation_latency_s < 1
    for name in ("journal.json", "junit.xml", "report.html", "summary.md", "samples.csv.gz"):
        assert (folder / name).exists()
    journal = json.loads((folder / "journal.json").read_text())
    assert journal["outcome"] == "PASS" and journal["changes"][0]["restore"] == "restored"
    assert "+  - headers:" in journal["changes"][0]["diff"] or "x-chaos-run" in journal["changes"][0]["diff"]
    suites = ET.parse(tmp_path / "junit.xml").getroot()
    assert suites.find("testsuite").get("tests") == "4"
    assert '<img alt="timeline" src="data:image/png;base64,' in (folder / "report.html").read_text()
    assert suite.exit_code() == 0
    import pandas as pd

    from harness.report import per_second

    tagged = per_second(pd.read_csv(folder / "samples.csv.gz").query("cohort == 'tagged'"))
    start, end = result.fault_active
    # the proxies apply the fault a little before istiod's Reconciled status confirms it (the recorded start),
    # so no tagged error may come before the injection began, and the fault window holds errors throughout
    injected = start - result.activation_latency_s
    assert tagged[tagged["second"] + 1 <= injected]["errors"].sum() == 0  # phase boundaries line up
    assert tagged[(tagged["second"] >= start) & (tagged["second"] + 1 <= end)]["error_rate"].min() > 0.5
    assert tagged[tagged["second"] >= end + 1]["errors"].sum() == 0


def test_no_traffic_in_a_cohort_is_inconclusive_not_pass(demo: Any, tmp_path: Path) -> None:
    text = ABORT.split("hypotheses:")[0].replace("taggedShare: 0.5", "taggedShare: 0").replace(
        "phases: {baseline: 3s, fault: 6s, recovery: 3s}", "phases: {baseline: 2s, fault: 3s, recovery: 2s}")
    text += "hypotheses: [{name: tagged fails, measure: error_rate, cohort: tagged, phase: fault, above: 0.5}]\n"
    target = sandbox_target(demo)
    suite = run_suite([write(tmp_path, text)], target, report_root=tmp_path / "r", progress=lambda _: None)
    verdict = suite.runs[0][0].verdicts[0]
    assert verdict.outcome is Outcome.INCONCLUSIVE
    # nobody carries the run header, so the run-scoped fault is never seen: the run says why, and never PASSes
    assert "fault never observed in the data plane" in verdict.reason and "taggedShare" in verdict.reason
    assert suite.exit_code() == 4


POLICIES = Path(__file__).resolve().parents[1] / "experiments" / "sandbox" / "policies"


def test_a_policy_and_a_fault_on_one_virtual_service_restore_it_exactly(demo: Any, tmp_path: Path) -> None:
    """The suite applies productcatalog's no-retries VirtualService, then injects on that same VirtualService."""
    (tmp_path / "policies").mkdir()
    shutil.copy(POLICIES / "productcatalog-no-retries.yaml", tmp_path / "policies")
    text = ABORT.replace("target: {namespace: shop}\n",
                         "target: {namespace: shop}\npolicies: [policies/productcatalog-no-retries.yaml]\n")
    before = specs(demo)
    suite = run_suite([write(tmp_path, text)], sandbox_target(demo), report_root=tmp_path / "reports",
                      progress=lambda _: None)
    ((result, _),) = suite.runs
    assert result.status == "completed", result.error
    assert [v.outcome for v in result.verdicts] == [Outcome.PASS] * 4, [v.reason for v in result.verdicts]
    policy, fault = result.changes
    assert (policy.kind, policy.name, fault.name) == ("VirtualService", "productcatalog", "productcatalog")
    assert fault.before is not None and fault.before["spec"]["http"][0]["retries"] == {"attempts": 0}  # on the policy
    assert fault.restore.startswith("fault removed") and policy.restore == "restored"
    assert specs(demo) == before  # spec and annotations of every VirtualService and DestinationRule


def _start_run(sandbox: Any, tmp_path: Path) -> subprocess.Popen[str]:
    exp = write(tmp_path, ABORT.replace("fault: 6s", "fault: 60s"))
    return subprocess.Popen([sys.executable, "-m", "harness.cli", "run", str(exp), "--state-dir",
                             str(sandbox.state_dir), "--report-dir", str(tmp_path / "reports")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _wait_for_fault(process: subprocess.Popen[str]) -> str:
    """Read the run's progress until the fault is active; return the run id it printed first."""
    assert process.stderr is not None
    deadline = time.monotonic() + 60
    run_id = ""
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        found = re.search(r"\(run ([0-9a-f]+)\)", line)
        run_id = run_id or (found.group(1) if found else "")
        if "fault active after" in line:
            return run_id
    raise AssertionError("the fault never became active")


def test_sigint_during_the_fault_phase_restores_and_still_reports(demo: Any, tmp_path: Path) -> None:
    before = specs(demo)
    process = _start_run(demo, tmp_path)
    try:
        _wait_for_fault(process)
        assert specs(demo) != before
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    finally:
        if process.poll() is None:  # a failed assertion must not leave a run holding the target
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=60)
    assert process.returncode == 130
    assert specs(demo) == before
    (journal,) = (tmp_path / "reports").glob("*/journal.json")
    assert json.loads(journal.read_text())["status"] == "interrupted"
    assert not _locust_left(tmp_path)


def test_kill_9_is_recovered_by_cleanup_and_load_stops_by_itself(demo: Any, tmp_path: Path) -> None:
    before = specs(demo)
    process = _start_run(demo, tmp_path)
    run_id = _wait_for_fault(process)
    assert run_id, "the run id is printed before anything changes"
    os.kill(process.pid, signal.SIGKILL)
    process.communicate(timeout=10)
    assert specs(demo) != before  # the fault survived the harness
    idle = subprocess.run([sys.executable, "-m", "harness.cli", "cleanup", "--state-dir", str(demo.state_dir)],
                          capture_output=True, text=True, timeout=60)
    assert idle.returncode == 0 and "still live" in idle.stdout  # marks not expired yet: a colleague's run is safe
    result = subprocess.run([sys.executable, "-m", "harness.cli", "cleanup", "--state-dir", str(demo.state_dir),
                             "--run", run_id], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "restored" in result.stdout
    assert specs(demo) == before
    deadline = time.monotonic() + 10
    while _locust_left(tmp_path) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _locust_left(tmp_path), "Locust kept loading the gateway after the harness died"


def _locust_left(tmp_path: Path) -> bool:
    """Is a Locust writing into this test's report folder still alive? (found by PID via /proc)."""
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().decode(errors="replace")
            environ = (proc / "environ").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if "locust" in cmdline and str(tmp_path) in environ:
            return is_running(ProcessRecord("locust", int(proc.name), None, ""))
    return False


def test_a_breached_guardrail_reverts_early_and_marks_the_run_aborted(demo: Any, tmp_path: Path) -> None:
    before = specs(demo)
    text = ABORT.replace("fault: 6s", "fault: 40s") + (
        "guardrails:\n  - {name: tagged users mostly fine, measure: error_rate, cohort: tagged, below: 0.1}\n")
    started = time.monotonic()
    suite = run_suite([write(tmp_path, text)], sandbox_target(demo), report_root=tmp_path / "r",
                      progress=lambda _: None)
    result, folder = suite.runs[0]
    assert result.status == "aborted"
    assert suite.exit_code() == 3
    assert time.monotonic() - started < 30  # the 40 s fault phase was cut short
    assert result.guardrails[0].outcome is Outcome.FAIL
    assert specs(demo) == before
    journal = json.loads((folder / "journal.json").read_text())
    assert journal["status"] == "aborted" and journal["load_summary"]["baseline/tagged"]["requests"] > 0
    assert (folder / "timeline.csv").exists()
