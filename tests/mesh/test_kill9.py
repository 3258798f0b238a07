"""Kill -9 a run at 20+ random moments during inject and fault phases; cleanup restores everything."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from harness.cli import app
from harness.mesh import KubernetesBackend, marked_virtual_services
from tests.cluster import ApiCluster

pytestmark = pytest.mark.slow
ORIGINALS = yaml.safe_load_all("""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop, annotations: {owner: team-a}}
spec:
  hosts: [reviews]
  http: [{name: main, route: [{destination: {host: reviews}}], timeout: 2s}]
---
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: ratings, namespace: shop}
spec:
  hosts: [ratings.shop.svc.cluster.local]
  http:
    - name: v1
      match: [{headers: {end-user: {exact: jason}}}]
      route: [{destination: {host: ratings, subset: v1}}]
    - name: rest
      route: [{destination: {host: ratings, subset: v2}}]
""")


def snapshot(server: ApiCluster) -> dict:
    return {key[2]: (obj["spec"], obj["metadata"].get("annotations"))
            for key, obj in sorted(server.objects.items())}


def test_kill_9_at_random_moments_then_cleanup_leaves_zero_leftovers(apiserver: ApiCluster,
                                                                      kubeconfig: Path) -> None:
    for obj in ORIGINALS:
        apiserver.put(obj)
    expected = snapshot(apiserver)
    backend = KubernetesBackend(config_file=str(kubeconfig))
    rng = random.Random(20261122)
    kills = left_behind = 0
    for attempt in range(24):
        driver = subprocess.Popen([sys.executable, "-m", "tests.mesh.chaos_driver", str(kubeconfig), f"k{attempt}"],
                                  stdout=subprocess.PIPE, text=True)
        assert driver.stdout is not None and driver.stdout.readline().strip() == "ready"
        time.sleep(rng.uniform(0.0, 0.25))
        driver.kill()
        driver.wait(10)
        kills += 1
        left_behind += bool(marked_virtual_services(backend, None, expired_only=False))
        cleanup = CliRunner().invoke(app, ["cleanup", "--backend", "kubernetes", "--kubeconfig", str(kubeconfig),
                                               "--run", f"k{attempt}"])  # the killed run, by the id it printed
        assert cleanup.exit_code == 0, cleanup.output
        assert snapshot(apiserver) == expected, f"after kill {attempt}"
    assert kills >= 20
    assert left_behind >= 10  # most kills really caught a fault in place: the cleanup was exercised
