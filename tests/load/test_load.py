"""Load through the sandbox gateway: cohorts, generic profile, shapes, distributed totals, bad input."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import pytest

from harness.errors import LoadError
from harness.experiment import Load
from harness.load import LoadPlan, LoadRun, check_gateway, resolve_locustfile
from harness.load._shape import users_at
from harness.report import per_second


def run_load(sandbox: Any, tmp_path: Path, load: Load, seconds: float) -> LoadRun:
    plan = LoadPlan(sandbox.gateway_url, None, "r1", load, resolve_locustfile(load, None), seconds,
                    tmp_path / "samples.csv", tmp_path / "locust.log")
    run = LoadRun(plan).start()
    deadline = time.monotonic() + seconds + 20
    while run.is_alive() and time.monotonic() < deadline:  # Locust stops itself after -t
        time.sleep(0.2)
    run.stop()
    return run


def test_unknown_profile_names_the_known_ones() -> None:
    with pytest.raises(LoadError, match="unknown load profile 'shopp'.*") as caught:
        resolve_locustfile(Load(profile="shopp"), None)
    assert "shop" in (caught.value.hint or "")


def test_locustfile_with_a_syntax_error_is_caught_with_its_line(tmp_path: Path) -> None:
    (tmp_path / "mine.py").write_text("from locust import task\n\ndef broken(:\n    pass\n")
    with pytest.raises(LoadError, match=r"mine.py:3: syntax error"):
        resolve_locustfile(Load(locustfile="mine.py"), tmp_path)


def test_unreachable_gateway_is_caught() -> None:
    from harness._net import free_ports

    (port,) = free_ports(1)
    with pytest.raises(LoadError, match="is unreachable"):
        check_gateway(f"http://127.0.0.1:{port}", None)


def test_shapes() -> None:
    steps = {"kind": "steps", "steps": [{"users": 5, "duration_s": 10}, {"users": 20, "duration_s": 10}]}
    assert [users_at(steps, 1, t) for t in (0, 9.9, 10, 19.9, 30)] == [5, 5, 20, 20, 20]
    spike = {"kind": "spike", "spike_users": 50, "spike_at_s": 5, "spike_s": 2}
    assert [users_at(spike, 10, t) for t in (0, 5, 6.9, 7)] == [10, 50, 50, 10]


@pytest.mark.sandbox
def test_both_cohorts_get_a_per_second_timeline_at_the_target_rate(demo: Any, tmp_path: Path) -> None:
    run = run_load(demo, tmp_path, Load(users=6, rate=60, tagged_share=0.5), 4)
    samples = run.samples()
    assert set(samples["cohort"]) == {"tagged", "control"}
    timeline = per_second(samples)
    assert set(timeline["cohort"]) == {"tagged", "control"}
    assert 0.8 * 60 * 4 <= len(samples) <= 1.1 * 60 * 5
    assert (samples["latency_ms"] % 1 != 0).any()  # full resolution, not Locust's rounding


@pytest.mark.sandbox
def test_generic_profile_from_yaml(demo: Any, tmp_path: Path) -> None:
    load = Load.model_validate({"profile": "generic", "users": 2, "rate": 20, "requests": [
        {"path": "/cart", "weight": 3, "name": "cart"}, {"path": "/healthz", "name": "health"}]})
    samples = run_load(demo, tmp_path, load, 3).samples()
    assert set(samples["name"]) == {"cart", "health"}
    assert (samples["outcome"] == "ok").all()
    assert (samples["name"] == "cart").mean() > 0.5


@pytest.mark.sandbox
def test_local_distributed_mode_gives_the_same_totals_as_the_workers_report(demo: Any, tmp_path: Path) -> None:
    run = run_load(demo, tmp_path, Load(users=4, rate=40, workers=2), 4)
    samples = run.samples()
    with open(tmp_path / "locust_stats.csv") as handle:
        aggregated = next(row for row in csv.DictReader(handle) if row["Name"] == "Aggregated")
    assert len(samples) > 50
    assert len(samples) == int(aggregated["Request Count"])
    assert set(samples["cohort"]) == {"tagged", "control"}


@pytest.mark.sandbox
def test_one_user_per_worker_still_fills_both_cohorts_and_the_master_reports_its_workers(demo: Any,
                                                                                        tmp_path: Path) -> None:
    run = run_load(demo, tmp_path, Load(users=2, rate=20, workers=2, tagged_share=0.5), 3)
    samples = run.samples()
    assert samples["cohort"].value_counts().min() > 15  # one worker's user is tagged, the other's is control
    status = run.status()
    assert status is not None and status.expected_workers == 2
    assert max(n for _, n in status.workers) == 2 and status.losses() == []


@pytest.mark.sandbox
def test_a_master_whose_workers_quit_records_the_loss_before_it_exits(demo: Any, tmp_path: Path) -> None:
    import os
    import signal

    plan = LoadPlan(demo.gateway_url, None, "r1", Load(users=2, rate=20, workers=2), resolve_locustfile(Load(), None),
                    30, tmp_path / "samples.csv", tmp_path / "locust.log")
    run = LoadRun(plan).start()
    try:
        run.wait_until_sending()
        for worker in run.workers:
            os.kill(worker.pid, signal.SIGTERM)  # a worker told to go says "quit"; the master then quits too
        deadline = time.monotonic() + 15
        while run.is_alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not run.is_alive()
    finally:
        run.stop()
    status = run.status()
    assert status is not None and sum(loss.lost for loss in status.losses()) == 2


@pytest.mark.sandbox
def test_the_pacer_sends_no_burst_after_a_stall(demo: Any, tmp_path: Path) -> None:
    plan = LoadPlan(demo.gateway_url, None, "r1", Load(users=2, rate=16), resolve_locustfile(Load(), None), 7,
                    tmp_path / "samples.csv", tmp_path / "locust.log")
    run = LoadRun(plan).start()
    try:
        run.wait_until_sending()
        time.sleep(1.5)
        demo.set_behaviour("frontend", latency_ms=2000)  # every user waits 2 s: 32 requests behind schedule
        time.sleep(1.0)
        demo.set_behaviour("frontend", reset=True)
        time.sleep(3.5)
    finally:
        demo.set_behaviour("frontend", reset=True)
        run.stop()
    samples = run.samples()
    per_second = samples["t"].floordiv(1).value_counts()
    slow = samples[samples["latency_ms"] > 1500]
    assert len(slow) >= 2, "the stall did not happen"
    after = per_second[per_second.index > slow["t"].max() + 1]
    assert len(after) >= 2 and per_second.max() <= 16 + 1  # a catch-up would send ~32 at once


def test_an_orphaned_master_waiting_for_workers_exits_by_itself(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    from harness._net import free_ports
    from harness.load._run import SUPPORT_FILE

    (port, bogus_parent) = free_ports(2)  # any number that is not our PID stands for "the harness is gone"
    config = {"samples_path": str(tmp_path / "samples.csv"), "parent_pid": bogus_parent}
    master = subprocess.Popen(
        [sys.executable, "-m", "locust", "-f", f"{SUPPORT_FILE},{resolve_locustfile(Load(), None)}", "--headless",
         "--host", "http://127.0.0.1:9", "-u", "1", "-t", "60s", "--master", "--master-bind-host", "127.0.0.1",
         "--master-bind-port", str(port), "--expect-workers", "2"],
        env={**__import__("os").environ, "HARNESS_LOAD_CONFIG": json.dumps(config)},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert master.wait(timeout=15) == 0
    finally:
        if master.poll() is None:
            master.kill()
