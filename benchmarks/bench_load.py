"""Load-driver benchmark, all against the same sandbox target in one run.

Run: python benchmarks/bench_load.py [--seconds 10] [--users 20]
Prints (issue #4 targets):
- req/s per CPU core of the harness's load driver vs bare `locust --headless` with the same
  locustfile (target ratio >= 0.9);
- accuracy of the constant-rate mode: achieved / target at 200 req/s (target within 5%);
- the cost of full-resolution recording (driver with vs without the recorder).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from harness.experiment import Load
from harness.load import LoadPlan, LoadRun, resolve_locustfile
from harness.sandbox import Sandbox

PROFILE = Path(__file__).resolve().parents[1] / "loadprofiles" / "generic.py"
REQUESTS = [{"path": "/healthz", "name": "healthz"}]


def cpu_seconds_while(process: psutil.Process, popen: subprocess.Popen[bytes] | None = None) -> float:
    """CPU seconds a process used until it exits (polled; the last reading before exit)."""
    used = 0.0
    while process.is_running() and process.status() != psutil.STATUS_ZOMBIE:
        try:
            times = process.cpu_times()
            used = times.user + times.system
        except psutil.NoSuchProcess:
            break
        time.sleep(0.2)
        if popen is not None and popen.poll() is not None:
            break
    return used


def bare_locust(gateway: str, users: int, seconds: int, folder: Path) -> tuple[int, float]:
    """Plain Locust, same locustfile, no harness recorder."""
    env = {**os.environ, "HARNESS_LOAD_CONFIG": json.dumps({"requests": REQUESTS})}
    popen = subprocess.Popen([sys.executable, "-m", "locust", "-f", str(PROFILE), "--headless", "--host", gateway,
                              "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--only-summary",
                              "--csv", str(folder / "bare"), "--loglevel", "WARNING"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cpu = cpu_seconds_while(psutil.Process(popen.pid), popen)
    popen.wait(30)
    with open(folder / "bare_stats.csv") as handle:
        total = int(next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")["Request Count"])
    return total, cpu


def driver(gateway: str, load: Load, seconds: int, folder: Path, *, record: bool = True) -> tuple[int, float]:
    """The harness's load driver (LoadRun), optionally without the full-resolution recorder (no request hook)."""
    samples = folder / f"samples-{time.monotonic_ns()}.csv"
    plan = LoadPlan(gateway, None, "bench", load, resolve_locustfile(load, None), seconds, samples,
                    folder / "driver.log", record=record)
    run = LoadRun(plan)
    run.start()
    assert run.child is not None
    cpu = cpu_seconds_while(psutil.Process(run.child.pid), run.child.popen)
    run.stop()
    return (len(run.samples()) if record else _count_from_log(folder / "driver.log")), cpu


def steady_rate(gateway: str, load: Load, seconds: int, folder: Path) -> float:
    """Requests per second in the steady part of a constant-rate run (first and last second cut)."""
    plan = LoadPlan(gateway, None, "bench", load, resolve_locustfile(load, None), seconds,
                    folder / "rated.csv", folder / "rated.log")
    run = LoadRun(plan).start()
    assert run.child is not None
    run.child.popen.wait(seconds + 30)  # type: ignore[union-attr]
    run.stop()
    t = run.samples()["t"]
    start = t.min() + 1
    end = start + seconds - 2
    return float(((t >= start) & (t < end)).sum() / (end - start))


def _count_from_log(log: Path) -> int:
    """The request count of Locust's own summary (last column of its last "Aggregated" row)."""
    for line in reversed(log.read_text().splitlines()):
        parts = line.split()
        if parts[:1] == ["Aggregated"] and parts[-1].isdigit():
            return int(parts[-1])
    raise RuntimeError(f"no summary in {log}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--users", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, \
            Sandbox.start(state_dir=Path(tmp) / "sandbox", scrape_interval_s=1, push_delay_s=0) as sandbox:
        folder = Path(tmp)
        gateway = sandbox.gateway_url
        generic = Load.model_validate({"profile": "generic", "users": args.users, "spawnRate": args.users,
                                       "requests": REQUESTS, "taggedShare": 0.5})
        bare_n, bare_cpu = bare_locust(gateway, args.users, args.seconds, folder)
        ours_n, ours_cpu = driver(gateway, generic, args.seconds, folder)
        plain_n, plain_cpu = driver(gateway, generic, args.seconds, folder, record=False)
        rated = Load.model_validate({**generic.model_dump(by_alias=True), "rate": 200})
        achieved = steady_rate(gateway, rated, args.seconds, folder)
    per_core = lambda n, cpu: n / cpu if cpu else float("nan")  # noqa: E731
    bare_pc, ours_pc, plain_pc = per_core(bare_n, bare_cpu), per_core(ours_n, ours_cpu), per_core(plain_n, plain_cpu)
    print(f"bare locust --headless    {bare_n / args.seconds:8.0f} req/s  {bare_pc:8.0f} req per CPU-second (baseline)")
    print(f"harness load driver       {ours_n / args.seconds:8.0f} req/s  {ours_pc:8.0f} req per CPU-second "
          f"ratio {ours_pc / bare_pc:.2f} (target >= 0.9)")
    print(f"driver without recorder   {plain_n / args.seconds:8.0f} req/s  {plain_pc:8.0f} req per CPU-second "
          f"-> recording costs {100 * (1 - ours_pc / plain_pc):.1f}% of the driver's throughput per core")
    print(f"constant rate 200 req/s   achieved {achieved:.1f} req/s, ratio {achieved / 200:.3f} (target 0.95-1.05)")


if __name__ == "__main__":
    main()
