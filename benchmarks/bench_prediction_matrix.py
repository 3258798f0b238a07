"""The validation matrix: predictions of `harness predict` against what the sandbox measures.

Run: python benchmarks/bench_prediction_matrix.py [--state-dir DIR]
Starts a sandbox with the matrix topology and mesh (experiments/matrix/), or attaches to one already running in
--state-dir, runs every configuration as real `harness` runs (the configurations of a batch side by side, each on
its own service) and prints, per hypothesis: configuration, measure, predicted, observed [interval], agree?; then
the agreement share (N/M of the judged hypotheses) and the wall time. Target (issue #13): all agree; each
disagreement explained in docs/prediction-matrix.md. The agreement rule is in tests/matrix.py.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the matrix engine lives beside its test

from harness.sandbox import Sandbox  # noqa: E402
from tests.matrix import MATRIX_DIR, render, run_matrix  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--state-dir", type=Path, help="a sandbox started with the matrix topology and mesh")
    parser.add_argument("--verbose", action="store_true", help="print the runs' progress")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        if args.state_dir:
            sandbox = Sandbox.attach(args.state_dir)
        else:
            sandbox = stack.enter_context(Sandbox.start(
                topology=MATRIX_DIR / "topology.yaml", mesh=[MATRIX_DIR / "mesh"], state_dir=Path(tmp) / "sandbox",
                scrape_interval_s=1, push_delay_s=0))
        up_s = time.perf_counter() - started
        say = print if args.verbose else (lambda _: None)
        result = run_matrix(sandbox, Path(tmp) / "reports", progress=say)
    print(render(result))
    print(f"sandbox start: {up_s:.1f} s; total with start and stop: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
