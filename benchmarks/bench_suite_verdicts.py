"""Verdicts of a 30-experiment game day judged from mesh metrics: the harness's judging vs the raw queries.

Run: python benchmarks/bench_suite_verdicts.py [--experiments 30]
A real Prometheus is backfilled (`promtool tsdb create-blocks-from openmetrics`) with 90 minutes of
Istio standard metrics at 1 s resolution for 30 services, as a suite run one after another would
leave them: each service gets its own 3-minute experiment (60 s baseline, fault, recovery) with 10%
errors and slower answers during its fault, 0.1% errors otherwise, 100 req/s throughout; series:
requests by response code and the request-duration histogram (19 buckets). Each experiment has four
mesh hypotheses (error rate, p95 latency, error rate versus baseline, recovered), judged through
``harness.verdict.evaluate`` as the runner does (range queries, counter growth, Wilson intervals).
Baseline, measured in the same run: the very queries the harness sent (recorded by
``Prometheus.recording``), replayed raw over one HTTP session with their JSON decoded and nothing
else. Each is timed twice, alternating; the faster pass counts. Target (issue #14): judging a
30-experiment suite takes at most 10 s, i.e. not the part of a game day anyone waits for.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
import requests
from _backfill import backfilled_prometheus

from harness.experiment import Hypothesis
from harness.metrics import Prometheus, SentQuery, Window
from harness.verdict import Timeline, Verdict, evaluate

PHASE_S = 60
EXPERIMENT_S = 3 * PHASE_S
RATE = 100
BUCKETS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
           3600000)


def labels(service: int) -> str:
    return (f'reporter="source",source_workload="frontend-v1",destination_service_name="svc-{service:02d}",'
            f'destination_service_namespace="shop"')


def write_openmetrics(path: Path, start: int, experiments: int) -> int:
    """Counters for every service over the whole suite; service i is faulted in its own experiment's fault phase."""
    rng = np.random.default_rng(11)
    seconds = experiments * EXPERIMENT_S
    ts = np.arange(seconds) + start
    written = 0
    families: dict[str, list[str]] = {"istio_requests_total": [], "istio_request_duration_milliseconds": []}
    for service in range(experiments):
        in_fault = (np.arange(seconds) >= service * EXPERIMENT_S + PHASE_S) & \
                   (np.arange(seconds) < service * EXPERIMENT_S + 2 * PHASE_S)
        bad = rng.binomial(RATE, np.where(in_fault, 0.1, 0.001))
        latency = np.where(in_fault, 30.0, 12.0)
        for code, per_s in (("200", RATE - bad), ("503", bad)):
            families["istio_requests_total"].append(_series(
                f'istio_requests_total{{{labels(service)},response_code="{code}"}}', np.cumsum(per_s), ts))
        for bound in (*BUCKETS, float("inf")):
            le = "+Inf" if bound == float("inf") else f"{bound:g}"
            families["istio_request_duration_milliseconds"].append(_series(
                f'istio_request_duration_milliseconds_bucket{{{labels(service)},le="{le}"}}',
                np.cumsum(np.where(latency <= bound, RATE, 0)), ts))
        written += (2 + len(BUCKETS) + 1) * seconds
    with open(path, "w") as out:
        out.write("# TYPE istio_requests_total counter\n")
        out.writelines(families["istio_requests_total"])
        out.write("# TYPE istio_request_duration_milliseconds histogram\n")
        out.writelines(families["istio_request_duration_milliseconds"])
        out.write("# EOF\n")
    return written


def _series(name: str, values: np.ndarray, ts: np.ndarray) -> str:
    return "".join(f"{name} {v} {t}\n" for v, t in zip(values.tolist(), ts.tolist(), strict=True))


def hypotheses(service: int) -> list[Hypothesis]:
    mesh = {"source": "mesh", "service": f"svc-{service:02d}", "sourceWorkload": "frontend-v1"}
    specs = [
        {"name": "mesh errors", "measure": "error_rate", "above": 0.05, **mesh},
        {"name": "mesh p95", "measure": "latency_p95", "below": 100, **mesh},
        {"name": "mesh vs baseline", "measure": "error_rate", "versus": "baseline", "above": 0.05, **mesh},
        {"name": "mesh recovered", "measure": "error_rate", "phase": "recovery", "after": "10s", "below": 0.01,
         **mesh},
    ]
    return [Hypothesis.model_validate(s) for s in specs]


def timeline(start: int, service: int) -> Timeline:
    at = start + service * EXPERIMENT_S
    return Timeline({"baseline": Window(at, at + PHASE_S), "recovery": Window(at + 2 * PHASE_S, at + EXPERIMENT_S)},
                    Window(at + PHASE_S, at + 2 * PHASE_S), scrape_interval_s=1.0)


def judge_suite(prom: Prometheus, start: int, experiments: int) -> tuple[list[list[Verdict]], list[SentQuery], float]:
    """Every experiment's verdicts the way the runner judges them, the queries sent, and the wall time."""
    no_samples = pd.DataFrame(columns=["t", "cohort", "name", "status", "latency_ms", "outcome"])
    began = time.perf_counter()
    with prom.recording() as sent:
        verdicts = [[evaluate(h, samples=no_samples, timeline=timeline(start, i), prometheus=prom, namespace="shop")
                     for h in hypotheses(i)] for i in range(experiments)]
    return verdicts, list(sent), time.perf_counter() - began


def replay(url: str, queries: list[SentQuery]) -> float:
    """The same queries, raw: one HTTP session, the JSON decoded, nothing else."""
    session = requests.Session()
    began = time.perf_counter()
    for q in queries:
        params = ({"query": q.query, "time": f"{q.time:.3f}"} if q.step_s is None else
                  {"query": q.query, "start": f"{q.start:.3f}", "end": f"{q.end:.3f}", "step": f"{q.step_s:g}s"})
        response = session.get(f"{url}/api/v1/{q.api}", params=params, timeout=30)
        response.raise_for_status()
        response.json()
    return time.perf_counter() - began


@contextmanager
def suite_prometheus(root: Path, experiments: int, start: int) -> Iterator[tuple[str, int]]:
    written = write_openmetrics(root / "suite.om", start, experiments)
    with backfilled_prometheus(root, root / "suite.om") as url:
        yield url, written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--experiments", type=int, default=30)
    args = parser.parse_args()
    start = int(time.time()) - args.experiments * EXPERIMENT_S - 120
    with tempfile.TemporaryDirectory() as tmp:
        print(f"writing {args.experiments * EXPERIMENT_S // 60} minutes of mesh metrics for {args.experiments} "
              "services at 1 s and backfilling Prometheus...")
        with suite_prometheus(Path(tmp), args.experiments, start) as (url, written):
            prom = Prometheus(url)
            prom.check()
            harness_s, raw_s = [], []
            for _ in range(2):
                verdicts, queries, took = judge_suite(prom, start, args.experiments)
                harness_s.append(took)
                raw_s.append(replay(url, queries))
    report(verdicts, queries, written, min(harness_s), min(raw_s), args.experiments)


def report(verdicts: list[list[Verdict]], queries: list[SentQuery], written: int, harness_s: float, raw_s: float,
           experiments: int) -> None:
    flat = [v for run in verdicts for v in run]
    outcomes = pd.Series([f"{v.name}: {v.outcome.value}" for v in flat]).value_counts().sort_index()
    for line, count in outcomes.items():
        print(f"  {count:3d} x {line}")
    ranges = sum(q.step_s is not None for q in queries)
    print(f"{experiments} experiments, {len(flat)} mesh hypotheses, {len(queries)} queries "
          f"({ranges} range, {len(queries) - ranges} instant) over {written:,} backfilled samples")
    print(f"harness judging: {harness_s:.2f} s total, {1000 * harness_s / experiments:.0f} ms per experiment "
          f"(target <= 10 s for the suite)")
    print(f"baseline, the same queries raw: {raw_s:.2f} s ({1000 * raw_s / experiments:.0f} ms per experiment) "
          f"-> ratio {harness_s / raw_s:.2f}; the harness's own processing {harness_s - raw_s:.2f} s")


if __name__ == "__main__":
    main()
