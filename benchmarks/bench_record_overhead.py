"""What the harness's per-request code costs Locust: throughput with and without the per-request record.

Run: python benchmarks/bench_record_overhead.py [--seconds 15] [--users 32] [--rounds 2]
Three arms, same Locust settings (one process, the same users, spawn rate and options LoadRun passes),
against one real Envoy that answers every request itself (benchmarks/_fast_target.py), so the load
generator is the bottleneck and its per-request cost is what differs:
- plain: Locust with a 4-line FastHttpUser, no harness code (the baseline, measured in the same run);
- harness, record off: LoadRun with the harness user class (cohorts, classification) and
  ``LoadPlan(record=False)``, which installs no request hook at all;
- harness, record on: the same with the full-resolution record to samples.csv (what every run does).
Requests are counted at the target (Envoy's downstream_rq_total) over a steady window after the
ramp; Locust's CPU time over the same window gives requests per CPU-second, which other load on
this machine disturbs less than req/s. Arms alternate over the rounds; the best round counts.
Target (issue #14): the record costs at most 15% of throughput per core.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil
from _fast_target import FastTarget, fast_target, rate_over

from harness._process import ChildProcess, start_process
from harness.experiment import Load
from harness.load import LoadPlan, LoadRun, resolve_locustfile

WARMUP_S = 3.0
PLAIN = """from locust import FastHttpUser, constant, task


class Plain(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self):
        self.client.get("/")
"""


@dataclass(frozen=True)
class Arm:
    name: str
    requests: int
    seconds: float
    cpu_s: float

    @property
    def per_s(self) -> float:
        return self.requests / self.seconds

    @property
    def per_cpu_s(self) -> float:
        return self.requests / self.cpu_s

    @property
    def cpu_us_per_request(self) -> float:
        return 1e6 * self.cpu_s / self.requests


def measure(name: str, target: FastTarget, child: ChildProcess, window_s: float) -> Arm:
    """Requests served and Locust's CPU over a window after the ramp."""
    process = psutil.Process(child.record.pid)
    time.sleep(WARMUP_S)
    cpu_before = sum(process.cpu_times()[:2])
    served, seconds = rate_over(target, window_s)
    cpu = sum(process.cpu_times()[:2]) - cpu_before
    return Arm(name, served, seconds, cpu)


def plain_arm(target: FastTarget, folder: Path, users: int, window_s: float) -> Arm:
    locustfile = folder / "plain.py"
    locustfile.write_text(PLAIN)
    argv = [sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "--host", target.url, "-u",
            str(users), "-r", str(users), "-t", f"{int(window_s + WARMUP_S + 3)}s", "--stop-timeout", "2",
            "--only-summary", "--exit-code-on-error", "0", "--loglevel", "WARNING"]
    child = start_process("locust-plain", argv, log_path=folder / "plain.log")
    try:
        return measure("plain Locust (no harness code)", target, child, window_s)
    finally:
        child.stop(timeout_s=8)


def harness_arm(target: FastTarget, folder: Path, users: int, window_s: float, *, record: bool) -> Arm:
    load = Load.model_validate({"users": users, "spawnRate": users, "requests": [{"path": "/"}],
                                "taggedShare": 0.5})
    name = f"record-{'on' if record else 'off'}-{time.monotonic_ns()}"
    plan = LoadPlan(target.url, None, "bench", load, resolve_locustfile(load, None), window_s + WARMUP_S + 2,
                    folder / f"{name}.csv", folder / f"{name}.log", record=record)
    run = LoadRun(plan).start()
    try:
        assert run.child is not None
        arm = measure(f"harness user, record {'on ' if record else 'off'}", target, run.child, window_s)
    finally:
        run.stop()
    if record:  # the record holds what the target served (plus the ramp and the tail)
        assert len(run.samples()) >= arm.requests, "the record lost requests"
    return arm


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured window per arm and round")
    parser.add_argument("--users", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    arms: list[Callable[[FastTarget, Path], Arm]] = [
        lambda t, f: plain_arm(t, f, args.users, args.seconds),
        lambda t, f: harness_arm(t, f, args.users, args.seconds, record=False),
        lambda t, f: harness_arm(t, f, args.users, args.seconds, record=True),
    ]
    rounds: list[list[Arm]] = []
    with tempfile.TemporaryDirectory() as tmp, fast_target(Path(tmp)) as target:
        for _ in range(args.rounds):
            rounds.append([arm(target, Path(tmp)) for arm in arms])
    best = [max((r[i] for r in rounds), key=lambda a: a.per_cpu_s) for i in range(len(arms))]
    report(best, rounds, args)


def report(best: list[Arm], rounds: list[list[Arm]], args: argparse.Namespace) -> None:
    plain = best[0]
    print(f"{args.users} users, {args.seconds:g} s measured per arm after a {WARMUP_S:g} s ramp, best of "
          f"{args.rounds} rounds; counted at the target (Envoy direct_response, 1 worker)")
    for arm in best:
        print(f"  {arm.name:32} {arm.per_s:7.0f} req/s  {arm.per_cpu_s:7.0f} req per Locust CPU-s  "
              f"{arm.cpu_us_per_request:6.0f} us CPU/req   ratio vs plain: {arm.per_s / plain.per_s:.2f} req/s, "
              f"{arm.per_cpu_s / plain.per_cpu_s:.2f} per core")
    off, on = best[1], best[2]
    print(f"the record costs {on.cpu_us_per_request - off.cpu_us_per_request:.0f} us CPU per request "
          f"({100 * (1 - on.per_cpu_s / off.per_cpu_s):.1f}% of throughput per core; target <= 15%); "
          f"the harness user class without it {off.cpu_us_per_request - plain.cpu_us_per_request:.0f} us")
    print("every round: " + json.dumps([[round(a.per_s) for a in r] for r in rounds]) + " req/s")


if __name__ == "__main__":
    main()
