"""Counters across a sidecar restart mid fault: what the mesh counted equals what the client saw.

A restarted istio-proxy starts its stats from 0. Differences of instant sums then lose everything
before the restart (or clamp to 0); per-series growth with Prometheus's reset rule does not.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from harness.metrics import MeshSelector, Prometheus, Window, envoy_cluster_stat, requests
from harness.suite import run_suite
from tests.conftest import sandbox_target

pytestmark = [pytest.mark.sandbox, pytest.mark.slow]

# Every productcatalog replica fails: the frontend's sidecar tries each /products/1 call three times
# (attempts: 2 in the demo's VirtualService), so retries are exactly twice the frontend's 500s.
RESTART = """
apiVersion: harness/v1
kind: Experiment
metadata: {name: restart-mid-fault, owner: tests}
target: {namespace: shop}
failures: [{service: productcatalog, errorRate: 1.0}]
phases: {baseline: 4s, fault: 14s, recovery: 4s}
load: {users: 4, rate: 40, taggedShare: 0.5, requests: [{path: /product/1}]}
hypotheses:
  - {name: retries to v1, measure: retries, source: mesh, service: productcatalog, subset: v1,
     sourceWorkload: frontend-v1, phase: fault, above: 0}
  - {name: retries to v2, measure: retries, source: mesh, service: productcatalog, subset: v2,
     sourceWorkload: frontend-v1, phase: fault, above: 0}
"""


def test_a_client_sidecar_restart_mid_fault_loses_no_retries_and_no_requests(demo: Any, tmp_path: Path) -> None:
    frontend = next(p.name for p in demo.control.pods() if p.name.startswith("frontend-v1"))
    restarted: list[float] = []  # when the restart began and ended

    def restart_soon(line: str) -> None:
        if "fault active after" in line:
            def restart() -> None:
                threading.Event().wait(5)
                began = time.time()
                demo.control.restart(frontend)
                restarted.extend([began, time.time()])
            threading.Thread(target=restart, daemon=True).start()

    exp = tmp_path / "restart.yaml"
    exp.write_text(RESTART)
    suite = run_suite([exp], sandbox_target(demo), report_root=tmp_path / "r", progress=restart_soon)
    ((result, folder),) = suite.runs
    assert restarted, "the frontend's sidecar was not restarted mid fault"
    samples = pd.read_csv(folder / "samples.csv.gz")
    frontend_failed = int((samples["status"] == 500).sum())  # the frontend answered: its one call failed 3 times
    assert frontend_failed > 100

    counted = sum(v.value for v in result.verdicts)
    # what the old Envoy counted after Prometheus's last scrape of it died with it: no Prometheus can see
    # those, so the truth allows for the requests answered between that scrape and the restart
    prom = Prometheus(demo.prometheus_url)
    began, ended = restarted
    last_scrape = min(_last_scrape_before(prom, 'job="envoy-stats",pod=~"frontend-v1.*"', began),  # its Envoy
                      _last_scrape_before(prom, 'job="istio-mesh"', began))  # its istio_* series
    unseen = samples[(samples["t"] + samples["latency_ms"] / 1000 >= last_scrape) & (samples["t"] <= ended)]
    unseen_failed = int((unseen["status"] == 500).sum())
    assert 2 * (frontend_failed - unseen_failed) - 6 <= counted <= 2 * frontend_failed + 6, (
        [v.to_dict() for v in result.verdicts], frontend_failed, unseen_failed)

    # what differences of instant sums would have said: the restart wiped most of the count
    start, end = result.verdicts[0].window
    naive = 0.0
    for subset in ("v1", "v2"):
        stat = envoy_cluster_stat("upstream_rq_retry", "productcatalog.shop.svc.cluster.local", subset=subset,
                                  pod="frontend-v1")
        query = f"sum({stat})"
        naive += max(0.0, prom.scalar(query, end) - prom.scalar(query, start))
    assert naive < counted - 100

    # istio_requests_total (the sidecar's own stats) also restarted from 0: every frontend -> productcatalog
    # request of the run is still counted once (the 500s and the 200s of baseline and recovery)
    run = Window(result.started_at - 2, result.ended_at)
    sel = MeshSelector("productcatalog", "shop", source_workload="frontend-v1")
    reached = int(samples["status"].isin([200, 500]).sum())
    counted_requests = prom.growth(requests(sel), run, edges="outer", interval_s=1).total
    # the sandbox builds istio_* from Envoy's access log, flushed every second: one more second unseen
    answered = samples["t"] + samples["latency_ms"] / 1000
    unseen_logged = samples[(answered >= last_scrape - 1.0) & (samples["t"] <= ended)]
    unseen_reached = int(unseen_logged["status"].isin([200, 500]).sum())
    assert reached - unseen_reached - 3 <= counted_requests <= reached + 3


def _last_scrape_before(prom: Prometheus, target: str, moment: float) -> float:
    """When Prometheus last scraped ``target`` (label matchers) before ``moment``: its ``up`` series' sample times."""
    frame = prom.samples(f"up{{{target}}}", Window(moment - 30, moment), edges="inner", interval_s=1)
    assert not frame.empty, f"no scrape of {target} before the restart"
    return float(frame["timestamp"].max())
