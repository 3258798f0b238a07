"""Notifications from real runs: the events arrive in order with the run's fault window; receivers that are dead or
hang change neither verdicts nor exit code, delay the run by at most the drain wait, and are noted.

Most tests run ``run_suite`` on an in-memory mesh without load (what is tested is the runner's hooks); the
last one is a real run on the sandbox.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from harness.experiment import Notify
from harness.mesh import MemoryBackend
from harness.notify import DRAIN_S, Notifier
from harness.report import RunResult
from harness.runner import Target, _Run
from harness.suite import SuiteResult, run_suite
from harness.verdict import Outcome
from tests.api_runs import REVIEWS_VS
from tests.conftest import sandbox_target
from tests.receiver import Receiver, dead_url, receiver

VS = REVIEWS_VS
EXPERIMENT = """
apiVersion: harness/v1
kind: Experiment
metadata: {name: notify-unit, owner: tests}
target: {namespace: shop}
faults: [{host: reviews, abort: {httpStatus: 503}}]
phases: {baseline: 1s, fault: 1s, recovery: 1s}
hypotheses: [{name: tagged fails, measure: error_rate, cohort: tagged, phase: fault, above: 0.5}]
"""


def run_in_memory(tmp_path: Path, gateway: str, monkeypatch: pytest.MonkeyPatch, *, notify: dict[str, Any] | None = None,
                  suite_notify: dict[str, Any] | None = None) -> tuple[SuiteResult, float]:
    """One run without load on an in-memory mesh; returns the suite and how long it took."""
    monkeypatch.setattr(_Run, "start_load", lambda self, locustfile, folder: None)
    text = EXPERIMENT + (f"notify: {json.dumps(notify)}\n" if notify else "")
    folder = tmp_path / f"run-{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    (folder / "exp.yaml").write_text(text)
    target = Target(MemoryBackend([VS]), gateway, None, propagation_deadline_s=0)
    began = time.monotonic()
    suite = run_suite([folder / "exp.yaml"], target, report_root=folder / "reports", progress=lambda _: None,
                      notify=Notify.model_validate(suite_notify) if suite_notify else None)
    return suite, time.monotonic() - began


def outcomes(suite: SuiteResult) -> tuple[Any, ...]:
    ((result, _),) = suite.runs
    return result.status, [(v.name, v.outcome) for v in result.verdicts], suite.exit_code()


def test_the_webhook_hears_start_fault_verdicts_and_end_in_order_and_grafana_the_fault_window(
        tmp_path: Path, gateway_stub: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with receiver() as hook:
        suite, _ = run_in_memory(tmp_path, gateway_stub, monkeypatch,
                                 notify={"webhooks": [{"url": hook.url + "/hook"}]},
                                 suite_notify={"grafana": [{"url": hook.url}], "slack": [{"url": hook.url + "/slack"}]})
    ((result, folder),) = suite.runs
    assert [b["event"] for b in hook.bodies("/hook")] == ["run_started", "fault_started", "fault_ended", "verdicts",
                                                           "run_finished"]
    started, _, ended, judged, finished = hook.bodies("/hook")
    assert {b["run_id"] for b in hook.bodies("/hook")} == {result.run_id}
    assert (started["experiment"], started["owner"], started["report"]) == ("notify-unit", "tests", str(folder))
    start, end = result.fault_active
    assert (ended["fault"]["start_ms"], ended["fault"]["end_ms"]) == (round(start * 1000), round(end * 1000))
    assert [v["outcome"] for v in judged["verdicts"]] == [v.outcome.value for v in result.verdicts]
    assert (finished["outcome"], finished["status"]) == (result.outcome.value, "completed")
    opened, closed = hook.bodies("/api/annotations")
    assert (opened["time"], closed["time"], closed["timeEnd"]) == (round(start * 1000),) * 2 + (round(end * 1000),)
    (slack,) = hook.bodies("/slack")
    assert slack["text"].startswith(f"INCONCLUSIVE notify-unit (run {result.run_id})")
    assert not [n for n in result.notes if n.startswith("notification")]
    journal = json.loads((folder / "journal.json").read_text())
    assert journal["experiment"]["notify"]["webhooks"][0]["url"] == hook.url + "/hook"


def test_dead_and_hanging_receivers_change_nothing_but_a_note_and_at_most_the_drain_wait(
        tmp_path: Path, gateway_stub: str, monkeypatch: pytest.MonkeyPatch) -> None:
    plain, plain_s = run_in_memory(tmp_path, gateway_stub, monkeypatch)
    dead = dead_url()
    with receiver("hang") as hanging:
        troubled, troubled_s = run_in_memory(
            tmp_path, gateway_stub, monkeypatch,
            notify={"webhooks": [{"url": dead + "/hook"}], "grafana": [{"url": hanging.url}]},
            suite_notify={"webhooks": [{"url": hanging.url + "/hook"}], "slack": [{"url": dead + "/slack/secret"}]})
    assert outcomes(troubled) == outcomes(plain)
    assert troubled_s - plain_s < DRAIN_S + 1.0, (troubled_s, plain_s)
    ((result, folder),) = troubled.runs
    notes = [n for n in result.notes if n.startswith("notification to")]
    assert [n.split(" failed: ")[0] for n in notes] == [  # webhooks, slack, grafana; the experiment's, then the suite's
        f"notification to webhook {dead}", f"notification to webhook {hanging.url}", f"notification to slack {dead}",
        f"notification to grafana {hanging.url}"]
    assert "unreachable" in notes[0] and "no answer" in notes[1]
    assert notes == [n for n in json.loads((folder / "journal.json").read_text())["notes"] if n in notes]
    assert "secret" not in " ".join(notes)


def test_ctrl_c_while_waiting_for_receivers_keeps_the_record_and_stops_the_suite(
        tmp_path: Path, gateway_stub: str, monkeypatch: pytest.MonkeyPatch) -> None:
    close = Notifier.close

    def interrupted_close(self: Notifier, **kwargs: Any) -> list[str]:
        os.kill(os.getpid(), signal.SIGINT)  # held until the wait is over
        return close(self, **kwargs)

    monkeypatch.setattr(Notifier, "close", interrupted_close)
    with receiver("hang") as hanging:
        suite, took = run_in_memory(tmp_path, gateway_stub, monkeypatch, notify={"webhooks": [{"url": hanging.url}]})
    ((result, folder),) = suite.runs
    assert result.status == "interrupted" and suite.exit_code() == 130
    assert any(n.startswith(f"notification to webhook {hanging.url}") for n in result.notes)
    assert (folder / "journal.json").exists()


def test_a_bad_notify_config_file_stops_harness_run_before_anything_runs(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    (tmp_path / "exp.yaml").write_text(EXPERIMENT)
    config = tmp_path / "notify.yaml"
    config.write_text("grafana:\n  - url: http://grafana:3000\n    token: glsa_abc\n")
    result = CliRunner().invoke(app, ["run", str(tmp_path / "exp.yaml"), "--notify-config", str(config)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert f"{config}:3:5: grafana[0].token: secrets do not belong in the YAML" in result.output


@pytest.mark.sandbox
@pytest.mark.slow
def test_a_real_run_notifies_every_receiver_and_a_dead_one_changes_nothing(demo: Any, tmp_path: Path) -> None:
    from tests.test_runner import ABORT

    text = ABORT.replace("phases: {baseline: 3s, fault: 6s, recovery: 3s}",
                         "phases: {baseline: 3s, fault: 5s, recovery: 3s}")
    dead = dead_url()
    with receiver() as hook:
        notify = {"webhooks": [{"url": hook.url + "/hook"}, {"url": dead}], "slack": [{"url": hook.url + "/slack"}],
                  "grafana": [{"url": hook.url, "tags": ["gameday"]}]}
        (tmp_path / "exp.yaml").write_text(text + f"notify: {json.dumps(notify)}\n")
        said: list[str] = []
        suite = run_suite([tmp_path / "exp.yaml"], sandbox_target(demo), report_root=tmp_path / "reports",
                          progress=said.append)
        hook.wait_for(8)
    ((result, _),) = suite.runs
    assert [v.outcome for v in result.verdicts] == [Outcome.PASS] * 4, [v.reason for v in result.verdicts]
    assert suite.exit_code() == 0
    assert_events(hook, result)
    (note,) = [n for n in result.notes if n.startswith("notification")]
    assert note.startswith(f"notification to webhook {dead} failed: run_started, fault_started, fault_ended, verdicts, "
                           "run_finished: unreachable")
    rates = [float(line.split(" req/s (configured 60)")[0].split()[-1]) for line in said if "(configured 60)" in line]
    assert any(54 <= rate <= 66 for rate in rates), said  # the achieved rate, not the unflushed record's 48


def assert_events(hook: Receiver, result: RunResult) -> None:
    events = hook.bodies("/hook")
    assert [b["event"] for b in events] == ["run_started", "fault_started", "fault_ended", "verdicts", "run_finished"]
    assert all(b["run_id"] == result.run_id and b["experiment"] == "abort-e2e" for b in events)
    start, end = result.fault_active
    fault_started = events[1]["fault"]
    assert fault_started["start_ms"] == round(start * 1000) and fault_started["faults"] == [
        "abort 503 (100%) on productcatalog"]
    assert [v["outcome"] for v in events[3]["verdicts"]] == ["PASS"] * 4
    assert events[4]["outcome"] == "PASS" and events[4]["status"] == "completed"
    opened, closed = hook.bodies("/api/annotations")
    assert opened["time"] == round(start * 1000) and "timeEnd" not in opened
    assert (closed["time"], closed["timeEnd"]) == (round(start * 1000), round(end * 1000))
    assert closed["tags"] == ["gameday", "abort-e2e", f"run:{result.run_id}"]
    (slack,) = hook.bodies("/slack")
    assert slack["text"] == f"PASS abort-e2e (run {result.run_id}): 4 PASS"


def test_a_run_refused_at_preflight_tells_its_receivers_why(tmp_path: Path, gateway_stub: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A CI stage's channel hears that the scheduled experiment did not run (here: a misspelt host), not silence."""
    from harness.errors import HarnessError

    monkeypatch.setattr(_Run, "start_load", lambda self, locustfile, folder: None)
    path = tmp_path / "typo.yaml"
    path.write_text(EXPERIMENT.replace("host: reviews", "host: reveiws")
                    + "notify: {webhooks: [{url: URL}]}\n".replace("URL", "{url}"))
    with receiver() as hook:
        path.write_text(path.read_text().replace("{url}", hook.url + "/hook"))
        target = Target(MemoryBackend([VS]), gateway_stub, None, propagation_deadline_s=0)
        with pytest.raises(HarnessError, match="no VirtualService in namespace shop routes reveiws"):
            run_suite([path], target, report_root=tmp_path / "reports", progress=lambda _: None)
    (finished,) = hook.bodies("/hook")
    assert (finished["event"], finished["status"]) == ("run_finished", "error")
    assert "refused before anything changed" in finished["error"] and "reveiws" in finished["error"]
