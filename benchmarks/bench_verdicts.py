"""Verdict benchmark: every kind of verdict over 1,000,000 client samples and a day of 1 s series.

Run: python benchmarks/bench_verdicts.py
The day of Istio metrics (requests by code, duration buckets, 1 s resolution) is backfilled into a
real Prometheus with `promtool tsdb create-blocks-from openmetrics`. Target (issue #5): all
verdicts in at most 3 s. The baseline printed beside it is one pass of pandas over the samples.
"""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _backfill import backfilled_prometheus

from harness.experiment import Hypothesis
from harness.metrics import Prometheus, Window
from harness.verdict import Timeline, evaluate

DAY_S = 86_400
BUCKETS = (0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
           3600000)
LABELS = ('reporter="source",source_workload="frontend-v1",destination_service_name="productcatalog",'
          'destination_service_namespace="shop"')


def client_samples(count: int, start: float) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    t = np.sort(rng.uniform(start, start + DAY_S, count))
    fault = (t >= start + DAY_S / 3) & (t < start + 2 * DAY_S / 3)
    cohort = np.where(rng.random(count) < 0.5, "tagged", "control")
    failed = rng.random(count) < np.where(fault & (cohort == "tagged"), 0.3, 0.001)
    latency = rng.lognormal(2.5, 0.4, count) + np.where(fault, 20.0, 0.0)
    return pd.DataFrame({"t": t, "cohort": cohort, "name": "home", "status": np.where(failed, 503, 200),
                         "latency_ms": latency, "outcome": np.where(failed, "5xx", "ok")})


def write_openmetrics(path: Path, start: int) -> int:
    """A day of 1 s samples: two request counters and a duration histogram."""
    rng = random.Random(3)
    ok = errors = 0.0
    buckets = [0.0] * (len(BUCKETS) + 1)
    series = 0
    with open(path, "w") as out:
        out.write("# TYPE istio_requests_total counter\n")
        lines_ok, lines_err, lines_buckets = [], [], [[] for _ in buckets]
        for second in range(DAY_S):
            ts = start + second
            in_fault = DAY_S / 3 <= second < 2 * DAY_S / 3
            n = 100
            bad = sum(rng.random() < (0.1 if in_fault else 0.001) for _ in range(n))
            ok, errors = ok + n - bad, errors + bad
            lines_ok.append(f'istio_requests_total{{{LABELS},response_code="200"}} {ok:g} {ts}\n')
            lines_err.append(f'istio_requests_total{{{LABELS},response_code="503"}} {errors:g} {ts}\n')
            value = 30.0 if in_fault else 12.0
            for i, bound in enumerate((*BUCKETS, float("inf"))):
                if value <= bound:
                    buckets[i] += n
            for i, bound in enumerate((*BUCKETS, float("inf"))):
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                lines_buckets[i].append(
                    f'istio_request_duration_milliseconds_bucket{{{LABELS},le="{le}"}} {buckets[i]:g} {ts}\n')
        out.writelines(lines_ok)
        out.writelines(lines_err)
        out.write("# TYPE istio_request_duration_milliseconds histogram\n")
        for lines in lines_buckets:
            out.writelines(lines)
            series += 1
        out.write("# EOF\n")
    return (series + 2) * DAY_S


def hypotheses() -> list[Hypothesis]:
    specs = [
        {"name": "tagged errors", "measure": "error_rate", "cohort": "tagged", "above": 0.2},
        {"name": "control errors", "measure": "error_rate", "cohort": "control", "below": 0.01},
        {"name": "client p99", "measure": "latency_p99", "below": 200},
        {"name": "latency shift", "measure": "latency_p50", "versus": "baseline", "above": 10},
        {"name": "tagged vs control", "measure": "error_rate", "cohort": "tagged", "versus": "control", "above": 0.2},
        {"name": "request rate", "measure": "request_rate", "above": 1},
        {"name": "recovered", "measure": "error_rate", "phase": "recovery", "after": "60s", "below": 0.01},
        {"name": "mesh errors", "measure": "error_rate", "source": "mesh", "service": "productcatalog",
         "sourceWorkload": "frontend-v1", "above": 0.05},
        {"name": "mesh p95", "measure": "latency_p95", "source": "mesh", "service": "productcatalog", "below": 50},
        {"name": "mesh vs baseline", "measure": "error_rate", "source": "mesh", "service": "productcatalog",
         "versus": "baseline", "above": 0.05},
    ]
    return [Hypothesis.model_validate(s) for s in specs]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        start = int(time.time()) - DAY_S - 60
        print("writing a day of 1 s series and backfilling Prometheus (takes a minute)...")
        samples_written = write_openmetrics(root / "day.om", start)
        with backfilled_prometheus(root, root / "day.om") as url:
            samples = client_samples(1_000_000, start)
            third = DAY_S / 3
            timeline = Timeline({"baseline": Window(start, start + third),
                                 "recovery": Window(start + 2 * third, start + DAY_S)},
                                Window(start + third, start + 2 * third))
            prom = Prometheus(url)
            prom.check()
            began = time.perf_counter()
            mask = (samples["t"] >= start + third) & (samples["t"] < start + 2 * third)
            _ = samples[mask & (samples["cohort"] == "tagged")]["outcome"].value_counts()
            baseline_s = time.perf_counter() - began
            began = time.perf_counter()
            verdicts = [evaluate(h, samples=samples, timeline=timeline, prometheus=prom, namespace="shop")
                        for h in hypotheses()]
            elapsed = time.perf_counter() - began
    for verdict in verdicts:
        value = "n/a" if verdict.value is None else f"{verdict.value:.4g}"
        print(f"  {verdict.outcome.value:12} {verdict.name:20} {value:>10}  n={verdict.samples}")
    print(f"{len(verdicts)} verdicts over 1,000,000 client samples and {samples_written:,} Prometheus samples "
          f"(a day at 1 s): {elapsed:.2f} s (target <= 3 s); one pandas pass over the samples: {baseline_s:.3f} s "
          f"(x{elapsed / baseline_s:.0f})")


if __name__ == "__main__":
    main()
