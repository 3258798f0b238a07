"""Alert guardrails in the runner, on the API-server path (no load, no sandbox): refusing to inject while an
alert fires, and reverting when Alertmanager can no longer be asked (fail safe)."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest

from harness.errors import HarnessError
from harness.runner import GUARDRAIL_EVERY_S, _Run
from harness.verdict import Outcome
from tests.alerts.conftest import RunningAlertmanager, needs_alertmanager
from tests.api_runs import api_target, istio_state, run_on_api, without_load

pytestmark = needs_alertmanager
BURN = {"alertname": "FrontendErrorBudgetBurn", "severity": "critical"}
EXPERIMENT = """
apiVersion: harness/v1
kind: Experiment
metadata: {name: alert-guarded, owner: tests}
target: {namespace: shop}
faults: [{host: reviews, abort: {httpStatus: 503}}]
phases: {baseline: 1s, fault: FAULT, recovery: 1s}
guardrails:
  - {name: frontend burning, alert: {alertname: FrontendErrorBudgetBurn, severity: critical}}
"""


@pytest.fixture
def reviews(cluster: Any) -> Any:
    from tests.api_runs import REVIEWS_VS

    cluster.put(REVIEWS_VS)
    yield cluster
    cluster.admin.delete("VirtualService", "shop", "reviews")


def target_with(reviews: Any, gateway: str, folder: Path, alertmanager_url: str) -> Any:
    return dataclasses.replace(api_target(reviews, gateway, folder), default_alertmanager_url=alertmanager_url)


def test_an_alert_firing_at_preflight_prevents_the_fault(reviews: Any, gateway_stub: str, quiet: RunningAlertmanager,
                                                         tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    without_load(monkeypatch)
    before = istio_state(reviews)
    quiet.fire(BURN, summary="frontend answers 31% with 5xx")
    with pytest.raises(HarnessError, match=r"at preflight.*'frontend burning'.*FrontendErrorBudgetBurn.*since .*"
                                           r"frontend answers 31% with 5xx.*no fault was injected") as caught:
        run_on_api(target_with(reviews, gateway_stub, tmp_path, quiet.url), tmp_path, EXPERIMENT.replace("FAULT", "2s"))
    assert "already alerting is unsafe" in str(caught.value.hint)
    assert istio_state(reviews) == before


def test_an_alert_that_fires_during_the_baseline_prevents_the_fault(
        reviews: Any, gateway_stub: str, quiet: RunningAlertmanager, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    without_load(monkeypatch)
    baseline = _Run.baseline

    def baseline_then_alert(run: _Run) -> None:
        baseline(run)
        quiet.fire(BURN, summary="burning since the load started")

    monkeypatch.setattr(_Run, "baseline", baseline_then_alert)
    before = istio_state(reviews)
    result = run_on_api(target_with(reviews, gateway_stub, tmp_path, quiet.url), tmp_path,
                        EXPERIMENT.replace("FAULT", "2s"))
    assert result.status == "error" and result.changes == [] and result.fault_active is None
    assert "after the baseline" in str(result.error) and "FrontendErrorBudgetBurn" in str(result.error)
    assert istio_state(reviews) == before


def test_alertmanager_going_away_in_the_fault_phase_reverts_fail_safe(
        reviews: Any, gateway_stub: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        tmp_path_factory: pytest.TempPathFactory) -> None:
    from harness._net import free_ports
    from harness.sandbox._alertmanager import start_alertmanager, wait_alertmanager_ready

    without_load(monkeypatch)
    port = free_ports(1)[0]
    own = start_alertmanager(tmp_path / "am", port, tmp_path / "logs")  # this test's own: it gets stopped
    url = f"http://127.0.0.1:{port}"
    try:
        wait_alertmanager_ready(own, url)
        inject = _Run.inject

        def inject_then_lose_alertmanager(run: _Run) -> None:
            inject(run)
            own.stop()

        monkeypatch.setattr(_Run, "inject", inject_then_lose_alertmanager)
        before = istio_state(reviews)
        started = time.monotonic()
        result = run_on_api(target_with(reviews, gateway_stub, tmp_path, url), tmp_path,
                            EXPERIMENT.replace("FAULT", "30s"))
    finally:
        own.stop()
    assert result.status == "aborted"
    assert time.monotonic() - started < 1 + GUARDRAIL_EVERY_S + 8  # the 30 s fault phase was cut at the first check
    (rail,) = result.guardrails
    assert rail.outcome is Outcome.INCONCLUSIVE and "fail safe" in rail.reason
    assert any("cannot see alerts" in note for note in result.notes)
    assert istio_state(reviews) == before


def test_no_alertmanager_anywhere_is_a_preflight_error(reviews: Any, gateway_stub: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    without_load(monkeypatch)
    monkeypatch.delenv("ALERTMANAGER_URL", raising=False)
    with pytest.raises(HarnessError, match="need an Alertmanager") as caught:
        run_on_api(api_target(reviews, gateway_stub, tmp_path), tmp_path, EXPERIMENT.replace("FAULT", "2s"))
    assert "--alertmanager-url" in str(caught.value.hint)
