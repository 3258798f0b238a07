"""Memory and disk of the per-request record, measured on a short run and extrapolated to 1 h at 5,000 req/s.

Run: python benchmarks/bench_record_footprint.py [--seconds 24] [--users 32]
A LoadRun with the record on (the code path every run takes) sends as fast as one Locust process can
against a real Envoy answering by itself (benchmarks/_fast_target.py). Measured:
- the recording process (Locust): peak RSS over time, sampled every 0.5 s; bounded memory means the
  RSS at 100% of the run is no higher than at 25% although it has recorded four times the rows;
- disk per request: the live samples.csv, and samples.csv.gz as write_reports compresses it;
- the harness process, which reads the whole record back into pandas (LoadRun.samples()): every
  progress line (each 5 s), every guardrail check and the final judge read all rows so far. Its
  frame size and read time grow with the row count; measured in a fresh child (peak RSS over the
  RSS with pandas imported) so nothing else counts.
Extrapolation: 1 h at 5,000 req/s = 18,000,000 requests, each measured per-request cost x 18 M.
The baseline beside the harness read is reading the same file's bytes once (the disk alone).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
from _fast_target import fast_target

from harness.experiment import Load
from harness.load import LoadPlan, LoadRun, resolve_locustfile

HOUR_REQUESTS = 3600 * 5000
MB = 1 << 20

# What LoadRun.samples() does, in a fresh interpreter: peak memory over "pandas imported", frame size, time.
READER = """
import json, resource, sys, time
import pandas as pd
from harness.experiment import Load
from harness.load import LoadPlan, LoadRun
from pathlib import Path
path = Path(sys.argv[1])
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
start_rss = rss()
began = time.perf_counter()
with open(path, "rb") as handle:
    while handle.read(1 << 22):
        pass
raw_s = time.perf_counter() - began
run = LoadRun(LoadPlan("", None, "", Load(), path, 0, path, path))
began = time.perf_counter()
frame = run.samples()
read_s = time.perf_counter() - began
print(json.dumps({"rows": len(frame), "read_s": read_s, "raw_s": raw_s, "peak_rss": rss() - start_rss,
                  "frame_bytes": int(frame.memory_usage(deep=True).sum())}))
"""


@dataclass(frozen=True)
class Sample:
    elapsed_s: float
    rss: int
    file_bytes: int


def record_run(folder: Path, users: int, seconds: float) -> tuple[list[Sample], LoadRun]:
    """A recorded run at full speed; the Locust process's RSS and the record's size every 0.5 s."""
    load = Load.model_validate({"users": users, "spawnRate": users, "requests": [{"path": "/"}],
                                "taggedShare": 0.5})
    with fast_target(folder) as target:
        plan = LoadPlan(target.url, None, "footprint", load, resolve_locustfile(load, None), seconds,
                        folder / "samples.csv", folder / "locust.log")
        run = LoadRun(plan).start()
        samples: list[Sample] = []
        try:
            assert run.child is not None
            process = psutil.Process(run.child.record.pid)
            run.wait_until_sending()
            began = time.monotonic()
            while run.child.popen.poll() is None:  # type: ignore[union-attr]
                size = plan.samples_path.stat().st_size if plan.samples_path.exists() else 0
                samples.append(Sample(time.monotonic() - began, process.memory_info().rss, size))
                time.sleep(0.5)
        except psutil.NoSuchProcess:
            pass
        finally:
            run.stop()
    return samples, run


def rss_at(samples: list[Sample], share: float) -> Sample:
    """The sample nearest to ``share`` of the sending time."""
    end = samples[-1].elapsed_s
    return min(samples, key=lambda s: abs(s.elapsed_s - share * end))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=24.0)
    parser.add_argument("--users", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        samples, run = record_run(folder, args.users, args.seconds)
        live = run.plan.samples_path.stat().st_size
        read = json.loads(subprocess.run([sys.executable, "-c", READER, str(run.plan.samples_path)], check=True,
                                         capture_output=True, text=True).stdout)
        frame = run.samples()
        began = time.perf_counter()
        frame.to_csv(folder / "samples.csv.gz", index=False, compression="gzip")  # as write_reports does
        gzip_s = time.perf_counter() - began
        packed = (folder / "samples.csv.gz").stat().st_size
    report(samples, read, live, packed, gzip_s, args)


def report(samples: list[Sample], read: dict[str, float], live: int, packed: int, gzip_s: float,
           args: argparse.Namespace) -> None:
    rows = int(read["rows"])
    quarter, full = rss_at(samples, 0.25), rss_at(samples, 1.0)
    peak = max(s.rss for s in samples)
    per = lambda value: value / rows  # noqa: E731
    hour = lambda value: per(value) * HOUR_REQUESTS  # noqa: E731
    print(f"recorded {rows:,} requests in {args.seconds:g} s ({rows / args.seconds:,.0f} req/s, {args.users} users, "
          f"one Locust process) through LoadRun's record")
    print(f"recording process RSS: {quarter.rss / MB:.1f} MiB at 25% of the run "
          f"(~{quarter.file_bytes / live * rows:,.0f} rows), {full.rss / MB:.1f} MiB at 100% ({rows:,} rows), "
          f"peak {peak / MB:.1f} MiB -> ratio 100%/25% {full.rss / quarter.rss:.2f} (bounded: does not grow "
          f"with rows); 1 h at 5,000 req/s: the same ~{peak / MB:.0f} MiB")
    print(f"disk per request: {per(live):.1f} B live samples.csv, {per(packed):.1f} B samples.csv.gz "
          f"-> 1 h at 5,000 req/s ({HOUR_REQUESTS / 1e6:.0f} M requests): {hour(live) / 2**30:.2f} GiB live, "
          f"{hour(packed) / 2**30:.2f} GiB compressed")
    print(f"harness process reading the record (LoadRun.samples(), each progress line, guardrail check and the "
          f"judge): {read['read_s']:.2f} s and {read['peak_rss'] / MB:.0f} MiB peak for {rows:,} rows "
          f"({1e6 * per(read['read_s']):.2f} us and {per(read['peak_rss']):.0f} B per row; frame "
          f"{per(read['frame_bytes']):.0f} B per row); baseline, reading the file's bytes: {read['raw_s']:.3f} s "
          f"(x{read['read_s'] / read['raw_s']:.0f})")
    print(f"  NOT BOUNDED -> 1 h at 5,000 req/s: {hour(read['peak_rss']) / 2**30:.1f} GiB peak and "
          f"{hour(read['read_s']):.0f} s per read (a read every 5 s for the progress line), "
          f"gzip at the end {hour(gzip_s):.0f} s")


if __name__ == "__main__":
    main()
