"""kill -9 a run after each of its API requests; `harness cleanup --run` then leaves the cluster as it was.

The run (tests/mesh/fault_point_driver.py) goes through the runner's phases on the Kubernetes path:
Lease, a retry policy on productcatalog's VirtualService, Locust worker objects, an abort on that
same VirtualService and a delay on cart's, revert, workers deleted, policy restored, Lease released.
Killing it after its Nth request for every N covers each point between two writes: during the policy
apply, between the faults, mid revert, before the policy restore, and so on.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.istio import load_istio
from harness.sandbox import DEFAULT_MESH
from tests.cluster import ApiCluster

POLICY = Path(__file__).resolve().parents[2] / "experiments" / "sandbox" / "policies" / "productcatalog-no-retries.yaml"
EXPERIMENT = """
apiVersion: harness/v1
kind: Experiment
metadata: {name: fault-points, owner: tests}
target: {namespace: shop}
policies: [policies/productcatalog-no-retries.yaml]
faults:
  - {host: productcatalog, abort: {httpStatus: 503}}
  - {host: cart, delay: {fixedDelay: 1s}}
"""
RUN_LABEL = "chaos.harness.io/run-id"
MIN_POINTS = 20


def istio_objects(server: ApiCluster) -> dict[tuple[str, str, str], Any]:
    """Every VirtualService and DestinationRule: spec and annotations."""
    return {key: (obj["spec"], obj["metadata"].get("annotations")) for key, obj in sorted(server.objects.items())}


def run_objects(server: ApiCluster) -> list[str]:
    """Worker Deployments, master Services, ConfigMaps of any run, and the harness's Leases."""
    found = [f"{plural}/{o['metadata']['name']}" for plural in ("deployments", "services", "configmaps")
             for o in server.list(plural, "load") if RUN_LABEL in (o["metadata"].get("labels") or {})]
    return found + [f"leases/{o['metadata']['name']}" for o in server.list("leases")
                    if o["metadata"]["name"].startswith("chaos-harness-")]


class Driver:
    """The fault-point driver as a child process: one run per ``kill_after``, answered line by line."""

    def __init__(self, kubeconfig: Path, experiment: Path) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "tests.mesh.fault_point_driver", str(kubeconfig),
                                         str(experiment)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def run(self, kill_after: int) -> tuple[str, str]:
        """The run id it printed first, and how it ended ("killed N METHOD PATH" or "finished TOTAL")."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"{kill_after}\n")
        self.process.stdin.flush()
        lines = []
        while (line := self.process.stdout.readline().strip()) != "done":
            assert line, f"the driver exited: {lines}"
            lines.append(line)
        run_id = next(line.split()[1] for line in lines if line.startswith("run "))
        ending = lines[-1]
        assert ending.startswith(("killed", "finished")), lines
        return run_id, ending

    def close(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(10)


@pytest.fixture
def experiment(tmp_path: Path) -> Path:
    (tmp_path / "policies").mkdir()
    shutil.copy(POLICY, tmp_path / "policies")
    path = tmp_path / "fault-points.yaml"
    path.write_text(EXPERIMENT)
    return path


def test_kill_9_after_every_api_request_then_cleanup_restores_every_object_and_leaves_no_worker(
        apiserver: ApiCluster, kubeconfig: Path, experiment: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for obj in load_istio([DEFAULT_MESH]).resources:
        apiserver.put(obj.raw)
    expected = istio_objects(apiserver)
    started = time.monotonic()
    driver = Driver(kubeconfig, experiment)
    try:
        _, ending = driver.run(0)  # the whole run, never killed: it puts everything back itself
        assert ending.startswith("finished"), ending
        assert istio_objects(apiserver) == expected and run_objects(apiserver) == []
        total = int(ending.split()[1])
        states, writes = set(), 0
        for point in range(1, total + 1):
            run_id, ending = driver.run(point)
            assert ending.startswith(f"killed {point} "), ending
            writes += ending.split()[2] != "GET"
            states.add(repr((istio_objects(apiserver), run_objects(apiserver))))  # what the kill left behind
            cleanup = CliRunner().invoke(app, ["cleanup", "--backend", "kubernetes", "--kubeconfig", str(kubeconfig),
                                               "--run", run_id])  # by the id the run printed first
            assert cleanup.exit_code == 0, f"after {ending}:\n{cleanup.output}"
            assert istio_objects(apiserver) == expected, f"after {ending}:\n{cleanup.output}"
            assert run_objects(apiserver) == [], f"after {ending}:\n{cleanup.output}"
    finally:
        driver.close()
    with capsys.disabled():
        print(f"\nfault points: {total} kill -9 points (after each API request of the run, {writes} of them right "
              f"after a write), {len(states)} distinct cluster states left behind, all restored by cleanup "
              f"in {time.monotonic() - started:.1f} s")
    assert total >= MIN_POINTS and len(states) >= 10
