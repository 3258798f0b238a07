"""Every example experiment in experiments/sandbox/ gives the verdicts it was designed to give."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.suite import run_suite
from harness.verdict import Outcome
from tests.conftest import sandbox_target

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]
EXAMPLES = Path(__file__).resolve().parents[1] / "experiments" / "sandbox"
DESIGNED = {
    "01-run-scoped-abort.yaml": Outcome.PASS,
    "02-timeout-protects-frontend.yaml": Outcome.PASS,
    "03-same-route-timeout-FAILS.yaml": Outcome.FAIL,
    "04-retries-mask-flaky-replica.yaml": Outcome.PASS,
    "05-retries-off-FAILS.yaml": Outcome.FAIL,
    "06-outlier-detection-ejects.yaml": Outcome.PASS,
    "07-circuit-breaker-sheds-load.yaml": Outcome.PASS,
}


def test_every_example_is_covered() -> None:
    assert sorted(p.name for p in EXAMPLES.glob("*.yaml")) == sorted(DESIGNED)


@pytest.mark.parametrize("name", sorted(DESIGNED))
def test_example_gives_its_designed_verdict(demo: Any, tmp_path: Path, name: str) -> None:
    target = sandbox_target(demo)
    suite = run_suite([EXAMPLES / name], target, report_root=tmp_path, progress=lambda _: None)
    ((result, _),) = suite.runs
    assert result.status == "completed"
    assert result.outcome is DESIGNED[name], [(v.name, v.outcome, v.reason) for v in result.verdicts]
    assert all(c.restore in ("restored", "deleted") for c in result.changes), result.changes
