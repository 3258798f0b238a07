"""End to end on the sandbox: the shop's SLO rule fires in Prometheus, Alertmanager holds the alert, the run reverts."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.alerts import Alertmanager
from harness.experiment import Matcher
from harness.runner import GUARDRAIL_EVERY_S
from harness.suite import run_suite
from harness.verdict import Outcome
from tests.alerts.conftest import needs_alertmanager
from tests.conftest import sandbox_target
from tests.receiver import receiver

pytestmark = [pytest.mark.sandbox, pytest.mark.slow, needs_alertmanager]
BURN = [Matcher("alertname", "=", "FrontendErrorBudgetBurn")]
EXPERIMENT = """
apiVersion: harness/v1
kind: Experiment
metadata: {name: alert-aborts-e2e, owner: tests}
target: {namespace: shop}
faults: [{host: productcatalog, abort: {httpStatus: 503}}]
phases: {baseline: 3s, fault: 40s, recovery: 2s}
load: {users: 6, rate: 60, taggedShare: 0.5}
hypotheses:
  - {name: control untouched, measure: error_rate, cohort: control, phase: fault, below: 0.05}
guardrails:
  - {name: frontend burning, alert: {alertname: FrontendErrorBudgetBurn, severity: critical}}
notify: {webhooks: [{url: 'RECEIVER'}]}
"""


@pytest.fixture(scope="module")
def alerting(sandbox: Any) -> str:
    """The session sandbox with Alertmanager and the demo shop's rules (deploy/prometheus/shop-alerts.rules.yml)."""
    return str(sandbox.enable_alerting())


class FirstSeen:
    """Polls Alertmanager every 0.1 s: when did the alert first show as firing there?"""

    def __init__(self, url: str) -> None:
        self.client = Alertmanager(url)
        self.at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._stop.is_set() and self.at is None:
            if self.client.firing(BURN):
                self.at = time.time()
            time.sleep(0.1)

    def __enter__(self) -> FirstSeen:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(2)


def wait_quiet(url: str, deadline_s: float = 20) -> None:
    """Earlier tests' aborts may still burn: the rule must have resolved before this run starts."""
    client, end = Alertmanager(url), time.monotonic() + deadline_s
    while client.firing(BURN) and time.monotonic() < end:
        time.sleep(0.5)
    assert not client.firing(BURN), "FrontendErrorBudgetBurn still fires before the test"


@pytest.fixture
def webhook() -> Iterator[Any]:
    with receiver() as got:
        yield got


def specs(sandbox: Any) -> dict[str, Any]:
    return {o["metadata"]["name"]: o["spec"] for o in sandbox.istio.list() if o["kind"] == "VirtualService"}


def test_a_firing_alert_aborts_the_run_within_one_guardrail_interval(demo: Any, alerting: str, webhook: Any,
                                                                     tmp_path: Path) -> None:
    wait_quiet(alerting)
    before = specs(demo)
    path = tmp_path / "exp.yaml"
    path.write_text(EXPERIMENT.replace("RECEIVER", webhook.url))
    target = dataclasses.replace(sandbox_target(demo), default_alertmanager_url=alerting)
    with FirstSeen(alerting) as seen:
        suite = run_suite([path], target, report_root=tmp_path / "r", progress=lambda _: None)
    ((result, folder),) = suite.runs

    assert result.status == "aborted" and suite.exit_code() == 3
    assert seen.at is not None and result.fault_active is not None
    fault_start, reverted_at = result.fault_active
    assert seen.at > fault_start  # quiet before the fault: the fault made it fire
    assert -0.2 < reverted_at - seen.at <= GUARDRAIL_EVERY_S + 1.0, (reverted_at - seen.at)
    assert specs(demo) == before  # every VirtualService exactly as it was

    (rail,) = result.guardrails
    assert rail.outcome is Outcome.FAIL and rail.source == "alertmanager"
    assert 'FrontendErrorBudgetBurn{severity="critical", team="shop"} firing since 20' in rail.reason
    assert "with 5xx (over 20%)" in rail.reason  # the summary annotation, rendered by Prometheus
    assert any(n.startswith("guardrail breached: frontend burning (alert firing: FrontendErrorBudgetBurn")
               for n in result.notes)
    journal = json.loads((folder / "journal.json").read_text())
    assert journal["guardrails"][0]["details"]["alerts"][0]["labels"]["alertname"] == "FrontendErrorBudgetBurn"
    finished = [b for b in webhook.bodies() if b["event"] == "run_finished"]
    assert finished and finished[0]["status"] == "aborted" and "FrontendErrorBudgetBurn" in finished[0]["error"]
    print(f"\nalert firing in Alertmanager {seen.at - fault_start:.1f} s after the fault became active; "
          f"reverted {reverted_at - seen.at:.2f} s after it fired")
