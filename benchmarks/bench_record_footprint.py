"""Memory and disk of the per-request record, measured on a short run and extrapolated to 1 h at 5,000 req/s.

Run: python benchmarks/bench_record_footprint.py [--seconds 24] [--users 32]
A LoadRun with the record on (the code path every run takes) sends as fast as one Locust process can
against a real Envoy answering by itself (benchmarks/_fast_target.py). Measured:
- the recording process (Locust): peak RSS over time, sampled every 0.5 s; bounded memory means the
  RSS at 100% of the run is no higher than at 25% although it has recorded four times the rows;
- disk per request: the live samples.csv, and samples.csv.gz as write_reports compresses it;
- the harness process reading the record, each way in a fresh child (peak RSS over its RSS with pandas
  imported, so nothing else counts):
  before (the baseline, measured in the same run): pd.read_csv of the whole file at every read (each
  progress line every 5 s, each guardrail check, the judge): time and memory grow with the row count;
  now (harness.load._samples): the record up to its last 25,000 rows is caught up once, then one
  progress read: those 25,000 rows (5 s at 5,000 req/s) appended and parsed, the progress tail framed;
  then the judge's one full frame. Bytes per row of the compact store, time per read;
- samples.csv.gz at the end: through pandas (before) and the live file gzipped in blocks (now).
Extrapolation: 1 h at 5,000 req/s = 18,000,000 requests, each measured per-request cost x 18 M; a
progress read now parses 25,000 new rows whatever the record's length, so its measured time is the 1 h one.
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
from harness.report._write import compress_record

HOUR_REQUESTS = 3600 * 5000
PER_READ_ROWS = 5 * 5000  # appended between two progress lines at 5,000 req/s
MB = 1 << 20

# Reading the record in a fresh interpreter (peak memory over "pandas imported"), one way per child:
# "full": what LoadRun.samples() did before, pd.read_csv of the whole file each read (the baseline);
# "incremental": harness.load._samples, as the runner reads now: the record but its last PER_READ_ROWS rows,
# then one progress read (those rows appended, the progress tail as a frame), then the judge's full frame.
READER = """
import gc, json, resource, sys, time
import pandas as pd
from pathlib import Path
from harness.load._progress import TAIL_S
from harness.load._samples import SampleReader
path, mode, per_read = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
rss = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
# the high-water mark over the RSS now (pandas imported; importing may have peaked higher, freed since)
now_rss = lambda: int(open("/proc/self/statm").read().split()[1]) * resource.getpagesize()
start_rss = now_rss()
hwm = lambda: next(int(line.split()[1]) * 1024 for line in open("/proc/self/status") if line.startswith("VmHWM"))
began = time.perf_counter()
with open(path, "rb") as handle:
    while handle.read(1 << 22):
        pass
out = {"raw_s": time.perf_counter() - began}
if mode == "full":
    began = time.perf_counter()
    frame = pd.read_csv(path, dtype={"cohort": str, "name": str, "outcome": str}).sort_values("t", ignore_index=True)
    out.update(rows=len(frame), read_s=time.perf_counter() - began, frame_bytes=int(frame.memory_usage(deep=True).sum()))
else:
    size = path.stat().st_size
    with open(path, "rb") as handle:  # the start of the last per_read rows, without holding the file in memory
        handle.seek(max(0, size - per_read * 200))
        tail = handle.read()
    cut = len(tail)
    for _ in range(per_read):
        cut = tail.rindex(b"\\n", 0, cut - 1) + 1
    cut += size - len(tail)
    growing = path.with_name("growing.csv")
    with open(path, "rb") as source, growing.open("wb") as target:
        left = cut
        while left:
            left -= target.write(source.read(min(left, 1 << 22)))
    reader = SampleReader(growing)
    began = time.perf_counter()
    reader.update()
    out["catch_up_s"] = time.perf_counter() - began
    with growing.open("ab") as handle:
        handle.write(tail[len(tail) - (size - cut):])
    del tail
    began = time.perf_counter()
    store = reader.update()
    out["update_s"] = time.perf_counter() - began
    began = time.perf_counter()
    tail = store.frame(store.last_t - TAIL_S)
    out.update(tail_s=time.perf_counter() - began, tail_rows=len(tail), parsed_rows=reader.parsed_rows,
               store_bytes=store.nbytes, store_rss=rss() - start_rss, store_held=now_rss() - start_rss)
    del tail
    gc.collect()
    with open("/proc/self/clear_refs", "w") as handle:  # the high-water mark from here on: the frame alone
        handle.write("5")
    before = now_rss()
    began = time.perf_counter()
    frame = store.frame()
    out.update(rows=len(frame), read_s=time.perf_counter() - began, frame_peak=hwm() - before,
               frame_held=now_rss() - before)
out["peak_rss"] = rss() - start_rss
print(json.dumps(out))
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


def read_record(path: Path, mode: str) -> dict[str, float]:
    argv = [sys.executable, "-c", READER, str(path), mode, str(PER_READ_ROWS)]
    return json.loads(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=24.0)
    parser.add_argument("--users", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        samples, run = record_run(folder, args.users, args.seconds)
        live = run.plan.samples_path.stat().st_size
        full, incremental = read_record(run.plan.samples_path, "full"), read_record(run.plan.samples_path, "incremental")
        frame = run.samples()
        began = time.perf_counter()
        frame.to_csv(folder / "before.csv.gz", index=False, compression="gzip")  # as write_reports did
        gzip_before_s = time.perf_counter() - began
        began = time.perf_counter()
        compress_record(run.plan.samples_path, folder / "samples.csv.gz")  # as write_reports does now
        gzip_s = time.perf_counter() - began
        packed = {"before": (folder / "before.csv.gz").stat().st_size, "now": (folder / "samples.csv.gz").stat().st_size}
    report(samples, full, incremental, live, packed, (gzip_before_s, gzip_s), args)


def report(samples: list[Sample], full: dict[str, float], new: dict[str, float], live: int, packed: dict[str, int],
           gzip_s: tuple[float, float], args: argparse.Namespace) -> None:
    rows = int(full["rows"])
    assert int(new["rows"]) == rows, "the incremental reader lost rows"
    quarter, end = rss_at(samples, 0.25), rss_at(samples, 1.0)
    peak = max(s.rss for s in samples)
    per = lambda value: value / rows  # noqa: E731
    hour = lambda value: per(value) * HOUR_REQUESTS  # noqa: E731
    print(f"recorded {rows:,} requests in {args.seconds:g} s ({rows / args.seconds:,.0f} req/s, {args.users} users, "
          f"one Locust process) through LoadRun's record")
    print(f"recording process RSS: {quarter.rss / MB:.1f} MiB at 25% of the run "
          f"(~{quarter.file_bytes / live * rows:,.0f} rows), {end.rss / MB:.1f} MiB at 100% ({rows:,} rows), "
          f"peak {peak / MB:.1f} MiB -> ratio 100%/25% {end.rss / quarter.rss:.2f} (bounded: does not grow "
          f"with rows); 1 h at 5,000 req/s: the same ~{peak / MB:.0f} MiB")
    print(f"disk per request: {per(live):.1f} B live samples.csv, {per(packed['now']):.1f} B samples.csv.gz "
          f"({per(packed['before']):.1f} B through pandas before) -> 1 h at 5,000 req/s "
          f"({HOUR_REQUESTS / 1e6:.0f} M requests): {hour(live) / 2**30:.2f} GiB live, "
          f"{hour(packed['now']) / 2**30:.2f} GiB compressed")
    print(f"baseline, before: every read (progress line each 5 s, guardrail check, judge) parsed the whole file: "
          f"{full['read_s']:.3f} s and {full['peak_rss'] / MB:.0f} MiB peak for {rows:,} rows "
          f"({1e6 * per(full['read_s']):.2f} us and {per(full['peak_rss']):.0f} B per row; frame "
          f"{per(full['frame_bytes']):.0f} B per row); reading the file's bytes alone {full['raw_s']:.3f} s")
    print(f"  -> 1 h at 5,000 req/s: {hour(full['peak_rss']) / 2**30:.2f} GiB peak, {hour(full['read_s']):.1f} s per "
          f"read, growing with the run")
    read_s = new["update_s"] + new["tail_s"]
    print(f"now, incremental: a progress read parses the {int(new['parsed_rows']):,} rows appended since the last "
          f"({PER_READ_ROWS:,} = 5 s at 5,000 req/s) in {new['update_s'] * 1e3:.1f} ms and frames the "
          f"{int(new['tail_rows']):,}-row tail in {new['tail_s'] * 1e3:.1f} ms: {read_s * 1e3:.1f} ms per read, "
          f"whatever the record's length (x{full['read_s'] / read_s:.0f} less than the full read here, "
          f"x{hour(full['read_s']) / read_s:,.0f} at 18 M rows)")
    print(f"  store {per(new['store_bytes']):.1f} B per row (x{per(full['frame_bytes']) / per(new['store_bytes']):.0f} "
          f"less than the frame's {per(full['frame_bytes']):.0f}), RSS held after the reads "
          f"{new['store_held'] / MB:.0f} MiB; peak {new['store_rss'] / MB:.0f} MiB, set by the catch-up read "
          f"({new['catch_up_s']:.2f} s for {rows - PER_READ_ROWS:,} rows), which parses 8 MiB blocks: bounded, "
          f"not per row -> 1 h at 5,000 req/s: {hour(new['store_bytes']) / 2**30:.2f} GiB held")
    print(f"  the judge's one full frame (the columns and dtypes of the full read, from the store): "
          f"{new['read_s']:.3f} s, {per(new['frame_held']):.0f} B per row held, {per(new['frame_peak']):.0f} B "
          f"per row peak -> 1 h at 5,000 req/s: {hour(new['read_s']):.0f} s, "
          f"{hour(new['frame_peak']) / 2**30:.2f} GiB peak beside the store, once (the reports' frame after it)")
    print(f"samples.csv.gz at the end: {gzip_s[0]:.2f} s through pandas before, {gzip_s[1]:.2f} s now (the live file "
          f"gzipped in blocks) -> 1 h at 5,000 req/s: {hour(gzip_s[0]):.0f} s before, {hour(gzip_s[1]):.0f} s now")


if __name__ == "__main__":
    main()
