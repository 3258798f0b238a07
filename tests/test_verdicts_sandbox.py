"""Verdicts on the sandbox's real Prometheus: honest intervals, and INCONCLUSIVE when the fault is lost."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConflictError
from harness.suite import run_suite
from harness.verdict import Outcome
from tests.conftest import sandbox_target

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

TEN_PERCENT = """
apiVersion: harness/v1
kind: Experiment
metadata: {name: ten-percent}
target: {namespace: shop}
faults: [{host: productcatalog, abort: {httpStatus: 503, percentage: 10}, scope: {traffic: all}}]
phases: {baseline: 3s, fault: 12s, recovery: 2s}
load: {profile: generic, users: 10, rate: 120, requests: [{path: /}]}
hypotheses:
  - {name: mesh error rate, measure: error_rate, source: mesh, service: productcatalog, sourceWorkload: frontend-v1,
     above: 0.0, confidence: 0.999}
  - {name: client error rate, measure: error_rate, above: 0.0, confidence: 0.999}
  - {name: errors rose against the baseline, measure: error_rate, versus: baseline, above: 0.03}
  - name: raw PromQL with the window templated in
    measure: promql
    source: mesh
    query: sum(increase(istio_requests_total{destination_service_name="productcatalog",response_flags="FI"}[$window]))
    above: 10
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(text)
    return path


def test_a_ten_percent_abort_gives_intervals_that_contain_ten_percent(demo: Any, tmp_path: Path) -> None:
    suite = run_suite([write(tmp_path, TEN_PERCENT)], sandbox_target(demo), report_root=tmp_path / "r",
                      progress=lambda _: None)
    mesh, client, versus, raw = suite.runs[0][0].verdicts
    for verdict in (mesh, client):
        assert verdict.interval is not None and verdict.samples > 500
        assert verdict.interval[0] <= 0.10 <= verdict.interval[1], verdict
    assert mesh.query.startswith('istio_requests_total{destination_service_name="productcatalog"')
    assert versus.outcome is Outcome.PASS
    assert raw.outcome is Outcome.PASS
    assert "$window" not in raw.query and raw.query.endswith("s]))")


def test_a_fault_removed_by_someone_else_is_inconclusive(demo: Any, tmp_path: Path) -> None:
    text = TEN_PERCENT.replace("percentage: 10, scope: {traffic: all}", "percentage: 100")
    original = demo.istio.get("VirtualService", "shop", "productcatalog")

    def gitops_puts_back_what_is_in_git() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            live = demo.istio.get("VirtualService", "shop", "productcatalog")
            if len(live["spec"]["http"]) > len(original["spec"]["http"]):
                time.sleep(0.5)
                for _ in range(20):  # as a GitOps controller: re-read and retry when the object moved on
                    try:
                        live["spec"] = original["spec"]
                        demo.istio.api.replace(live)
                        return
                    except ConflictError:
                        live = demo.istio.get("VirtualService", "shop", "productcatalog")
                return
            time.sleep(0.05)

    thread = threading.Thread(target=gitops_puts_back_what_is_in_git)
    thread.start()
    suite = run_suite([write(tmp_path, text)], sandbox_target(demo), report_root=tmp_path / "r",
                      progress=lambda _: None)
    thread.join()
    result = suite.runs[0][0]
    assert all(v.outcome is Outcome.INCONCLUSIVE for v in result.verdicts), result.verdicts
    assert "removed by someone else" in result.verdicts[0].reason
    assert any("removed by someone else" in note for note in result.notes)
