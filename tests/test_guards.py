"""The guards on the Kubernetes path (the sandbox's API server): one run per target, no production
context for `inject`, and a flag-less `harness cleanup` that leaves a colleague's live run alone."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harness.cli import app
from harness.mesh import KubernetesBackend, RunLock
from harness.report import RunResult
from harness.runner import _Run
from tests.api_runs import api_target, istio_state, run_on_api, without_load
from tests.cluster import ApiCluster

INJECT_ONLY = """
apiVersion: harness/v1
kind: Experiment
metadata: {name: hands-on, owner: alice}
target: {namespace: shop, backend: kubernetes}
faults: [{host: cart, abort: {httpStatus: 503, percentage: 10}}]
"""


def test_a_second_run_on_the_same_target_fails_naming_the_first_runs_id_and_owner(
        shop_api: ApiCluster, gateway_stub: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    original = istio_state(shop_api)
    without_load(monkeypatch)
    in_baseline, finish = threading.Event(), threading.Event()

    def held_baseline(self: _Run) -> None:  # the first run holds the targets while the second one starts
        in_baseline.set()
        finish.wait(30)

    monkeypatch.setattr(_Run, "baseline", held_baseline)
    first: list[RunResult] = []
    alice = threading.Thread(target=lambda: first.append(run_on_api(api_target(shop_api, gateway_stub, tmp_path,
                                                                               owner="alice"), tmp_path / "alice")))
    alice.start()
    try:
        assert in_baseline.wait(30)
        during_first = istio_state(shop_api)  # alice's policy is applied by now
        said: list[str] = []
        second = run_on_api(api_target(shop_api, gateway_stub, tmp_path, owner="bob"), tmp_path / "bob", said=said)
        after_second = istio_state(shop_api)
    finally:
        finish.set()
        alice.join(30)
    (first_result,) = first
    assert second.status == "error" and second.changes == []
    assert (f"target shop/productcatalog is held by chaos run {first_result.run_id} (owner alice, lease expires"
            in (second.error or ""))
    assert not any(line.startswith("load running") for line in said)  # stopped before the baseline
    assert after_second == during_first  # the second run changed nothing
    assert first_result.status == "completed", first_result.error
    assert istio_state(shop_api) == original and shop_api.list("leases", "shop") == []


def write_experiment(tmp_path: Path) -> Path:
    path = tmp_path / "exp.yaml"
    path.write_text(INJECT_ONLY)
    return path


@pytest.mark.parametrize("context", ["prod-eu", "gke_acme_europe-west1_production"])
def test_inject_refuses_a_current_context_that_looks_like_production(
        shop_api: ApiCluster, tmp_path: Path, context: str) -> None:
    """No --context given: the effective context is the kubeconfig's current one."""
    before = istio_state(shop_api)
    kubeconfig = shop_api.kubeconfig(tmp_path / "kubeconfig", context, as_harness=True)
    injected = CliRunner().invoke(app, ["inject", str(write_experiment(tmp_path)), "--backend", "kubernetes",
                                        "--kubeconfig", str(kubeconfig)])
    assert injected.exit_code == 2, injected.output
    assert f"the context '{context}' looks like production; refusing to inject faults" in injected.output
    assert "run id:" not in injected.output and istio_state(shop_api) == before


def test_inject_obeys_the_namespace_allow_list(shop_api: ApiCluster, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    before = istio_state(shop_api)
    kubeconfig = shop_api.kubeconfig(tmp_path / "kubeconfig", "staging", as_harness=True)
    monkeypatch.setenv("HARNESS_ALLOWED_NAMESPACES", "payments-staging")
    injected = CliRunner().invoke(app, ["inject", str(write_experiment(tmp_path)), "--backend", "kubernetes",
                                        "--kubeconfig", str(kubeconfig)])
    assert injected.exit_code == 2 and "namespace 'shop' is not in the allow-list" in injected.output
    assert istio_state(shop_api) == before


def test_cleanup_without_flags_leaves_a_live_run_untouched_and_says_so(shop_api: ApiCluster, tmp_path: Path) -> None:
    before = istio_state(shop_api)
    kubeconfig = shop_api.kubeconfig(tmp_path / "kubeconfig", "staging", as_harness=True)
    k8s = ["--backend", "kubernetes", "--kubeconfig", str(kubeconfig)]
    injected = CliRunner().invoke(app, ["inject", str(write_experiment(tmp_path)), *k8s, "--ttl", "15m"])
    assert injected.exit_code == 0, injected.output
    assert injected.output.index("run id: ") < injected.output.index("changed VirtualService shop/cart")  # id first
    run_id = injected.output.split("run id: ")[1].split()[0]
    lock = RunLock(KubernetesBackend(config_file=str(kubeconfig)), "shop", ["cart"], run_id=run_id, owner="alice")
    lock.acquire()  # the colleague's run also holds its Lease, renewed a moment ago
    live = istio_state(shop_api)
    assert live != before

    idle = CliRunner().invoke(app, ["cleanup", *k8s])
    assert idle.exit_code == 0, idle.output
    assert f"skipped VirtualService shop/cart: run {run_id} (owner alice, expires" in idle.output
    assert "is still live (--run ID or --all to include it)" in idle.output and "restored" not in idle.output
    assert istio_state(shop_api) == live and len(shop_api.list("leases", "shop")) == 1

    named = CliRunner().invoke(app, ["cleanup", *k8s, "--run", run_id])
    assert named.exit_code == 0, named.output
    assert f"VirtualService shop/cart (run {run_id} (owner alice" in named.output and ": restored" in named.output
    assert istio_state(shop_api) == before and shop_api.list("leases", "shop") == []
