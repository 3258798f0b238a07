"""Overhead of `harness run`: wall time on an already running sandbox / sum of the phase durations.

Run: python benchmarks/bench_run_overhead.py [--phase-seconds 20]
Target (issue #6): at most 1.10 for a 60 s experiment (three 20 s phases). The baseline is the sum
of the configured phases, which a zero-overhead runner would take.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness.sandbox import Sandbox

EXPERIMENT = """
apiVersion: harness/v1
kind: Experiment
metadata: {{name: overhead}}
target: {{namespace: shop}}
faults: [{{host: productcatalog, abort: {{httpStatus: 503}}}}]
phases: {{baseline: {s}s, fault: {s}s, recovery: {s}s}}
load: {{users: 10, rate: 50, taggedShare: 0.5}}
hypotheses:
  - {{name: tagged fails, measure: error_rate, cohort: tagged, above: 0.5}}
  - {{name: mesh sees it, measure: error_rate, source: mesh, service: productcatalog, above: 0.1}}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--phase-seconds", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, \
            Sandbox.start(state_dir=Path(tmp) / "sandbox", scrape_interval_s=1, push_delay_s=0) as sandbox:
        experiment = Path(tmp) / "overhead.yaml"
        experiment.write_text(EXPERIMENT.format(s=args.phase_seconds))
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "harness.cli", "run", str(experiment), "--state-dir",
                                 str(sandbox.state_dir), "--report-dir", str(Path(tmp) / "reports")],
                                capture_output=True, text=True)
        wall = time.perf_counter() - started
    phases = 3 * args.phase_seconds
    print(f"harness run wall time   {wall:6.1f} s   (exit {result.returncode})")
    print(f"sum of phase durations  {phases:6.1f} s   (baseline: a runner with no overhead)")
    print(f"ratio                   {wall / phases:6.3f}     target <= 1.10")


if __name__ == "__main__":
    main()
