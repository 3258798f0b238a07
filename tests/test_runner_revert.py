"""A revert that fails half-way: the run names what is left with the command that removes it, and says
"reverted" only when the API shows everything back.

The Kubernetes-path tests run ``run_experiment`` against the sandbox's API server with the harness's
ServiceAccount: a retry policy on productcatalog's VirtualService, an abort on that same VirtualService
and a delay on cart's. The API failures come from the server itself (``POST /debug/faults``). Load
and Prometheus are left out: what is tested is the revert.
"""

from __future__ import annotations

import os
import shlex
import signal
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harness import _changes
from harness.cli import app
from harness.errors import HarnessError, TransientBackendError
from harness.experiment import load_experiment_text
from harness.mesh import MemoryBackend
from harness.report import RunResult
from harness.runner import RunOptions, Target, _Run
from tests.api_runs import REVIEWS_VS, api_target, istio_state, run_on_api, without_load
from tests.cluster import ApiCluster

VS = REVIEWS_VS
EXPERIMENT = """
apiVersion: harness/v1
kind: Experiment
metadata: {name: broken-restore}
target: {namespace: shop}
faults: [{host: reviews, abort: {httpStatus: 503}}]
"""


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """with_retries' waits between attempts (the attempts themselves still happen)."""
    monkeypatch.setattr("harness.mesh._faults.time", types.SimpleNamespace(sleep=lambda _: None))


class BrokenAfterInject(MemoryBackend):
    """Accepts the inject, then every write fails as an unreachable API server would."""

    broken = False

    def replace_object(self, obj: dict) -> dict:
        if self.broken:
            raise TransientBackendError("Kubernetes API unreachable: connection refused")
        return super().replace_object(obj)


def test_failed_restore_names_the_leftover_and_the_command_to_finish_it(tmp_path: Path) -> None:
    backend = BrokenAfterInject([VS])
    target = Target(backend, "http://127.0.0.1:1", None, revert_options="--backend kubernetes --context staging",
                    propagation_deadline_s=0)
    (loaded,) = load_experiment_text(EXPERIMENT)
    said: list[str] = []
    run = _Run(loaded, target, RunOptions(tmp_path, said.append))
    run.inject()
    backend.broken = True
    with pytest.raises(HarnessError) as caught:
        run.revert()
    assert caught.value.message == (f"could not take the fault out of 1 object(s); left in the cluster: VirtualService "
                                    f"shop/reviews: chaos route chaos-{run.run_id}-main still in spec.http; it still "
                                    f"carries run {run.run_id}'s marks (chaos.harness.io/* annotations on it)")
    assert caught.value.hint == f"finish it with: harness cleanup --run {run.run_id} --backend kubernetes --context staging"
    assert run.result.changes[0].restore.startswith("FAILED")
    assert not run.reverted and "fault reverted" not in said


# -- the Kubernetes path --------------------------------------------------------------------------------


def run_policy_and_faults(server: ApiCluster, gateway: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                          ) -> tuple[RunResult, list[str]]:
    without_load(monkeypatch)
    said: list[str] = []
    return run_on_api(api_target(server, gateway, tmp_path), tmp_path, said=said), said


def fail_before(monkeypatch: pytest.MonkeyPatch, method: Callable[..., Any], server: ApiCluster) -> None:
    """Every call of a ChangeLedger ``method`` starts with the API server failing its next five requests."""
    def failing(self: _changes.ChangeLedger, *args: Any, **kwargs: Any) -> Any:
        server.fail_next(5, 500)  # with_retries makes five attempts: the first object in line is not restored
        return method(self, *args, **kwargs)

    monkeypatch.setattr(_changes.ChangeLedger, method.__name__, failing)


def finish_command(error: str) -> list[str]:
    """The arguments of the command the run named to finish the job."""
    line = next(line for line in error.splitlines() if "finish it with: harness " in line)
    return shlex.split(line.split("finish it with: harness ", 1)[1])


def test_an_api_failure_mid_revert_names_the_fault_left_and_cleanup_finishes_it(
        shop_api: ApiCluster, gateway_stub: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = istio_state(shop_api)
    fail_before(monkeypatch, _changes.ChangeLedger.take_faults_out, shop_api)  # cart's fault comes out first: it fails
    result, said = run_policy_and_faults(shop_api, gateway_stub, tmp_path, monkeypatch)
    assert result.status == "error"
    assert "fault reverted" not in said and "reverted (read back" not in (result.error or "")
    assert f"LEFT IN THE CLUSTER by run {result.run_id}: VirtualService shop/cart: chaos route " \
           f"chaos-{result.run_id}-cart still in spec.http" in (result.error or "")
    state = istio_state(shop_api)
    assert state["virtualservices/productcatalog"] == before["virtualservices/productcatalog"]  # policy and fault out
    assert state != before
    cleanup = CliRunner().invoke(app, finish_command(result.error or ""))
    assert cleanup.exit_code == 0, cleanup.output
    assert "VirtualService shop/cart" in cleanup.output and ": restored" in cleanup.output
    assert istio_state(shop_api) == before
    assert shop_api.list("leases", "shop") == []


def test_a_failed_policy_restore_leaves_no_fault_and_names_the_policy_left(
        shop_api: ApiCluster, gateway_stub: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    before = istio_state(shop_api)
    fail_before(monkeypatch, _changes.ChangeLedger.restore_policies, shop_api)
    result, said = run_policy_and_faults(shop_api, gateway_stub, tmp_path, monkeypatch)
    assert result.status == "error" and "fault reverted" in said  # the faults really were out, read back
    assert f"VirtualService shop/productcatalog: the policy of run {result.run_id} is still applied" in (result.error or "")
    state = istio_state(shop_api)
    assert not any(r["name"].startswith("chaos-") for spec, _ in state.values() for r in spec.get("http") or [])
    assert state["virtualservices/cart"] == before["virtualservices/cart"]
    cleanup = CliRunner().invoke(app, finish_command(result.error or ""))
    assert cleanup.exit_code == 0, cleanup.output
    assert istio_state(shop_api) == before


def test_a_fault_that_would_not_come_out_goes_with_its_policy_and_the_run_says_so(
        shop_api: ApiCluster, gateway_stub: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """productcatalog's fault fails to come out on its own; the policy restore puts the whole object back."""
    before = istio_state(shop_api)
    restore = _changes.restore

    def fault_removal_fails(backend: Any, namespace: str, name: str, run_id: str, **kwargs: Any) -> Any:
        if name == "productcatalog" and kwargs.get("fault_only"):
            shop_api.fail_next(5, 503)
        return restore(backend, namespace, name, run_id, **kwargs)

    monkeypatch.setattr(_changes, "restore", fault_removal_fails)
    result, said = run_policy_and_faults(shop_api, gateway_stub, tmp_path, monkeypatch)
    assert result.status == "error" and "fault reverted" not in said
    assert (result.error or "").startswith("could not take the fault out of 1 object(s)")
    assert (result.error or "").endswith("\non a later attempt every change was reverted (read back from the API): "
                                         "nothing is left to finish")
    assert istio_state(shop_api) == before  # without any cleanup
    assert shop_api.list("leases", "shop") == []
    policy, fault, cart = result.changes  # in the order they were written
    assert (policy.name, policy.restore) == ("productcatalog", "restored")  # the whole object, the fault with it
    assert (fault.name, fault.restore) == ("productcatalog", f"nothing of run {result.run_id} left (read back)")
    assert (cart.name, cart.restore) == ("cart", "restored")


def test_sighup_in_the_fault_phase_and_a_second_ctrl_c_mid_revert_still_revert_everything(
        shop_api: ApiCluster, gateway_stub: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A closed terminal (SIGHUP) ends the run like SIGTERM; Ctrl-C during the revert waits until it is done."""
    before = istio_state(shop_api)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGTERM)}
    monkeypatch.setattr(_Run, "observe", lambda self: os.kill(os.getpid(), signal.SIGHUP))
    take_faults_out = _changes.ChangeLedger.take_faults_out
    reverted_with_signal_pending: list[bool] = []

    def ctrl_c_first(self: _changes.ChangeLedger) -> Any:
        os.kill(os.getpid(), signal.SIGINT)  # the user presses Ctrl-C again as the revert starts
        written = take_faults_out(self)
        reverted_with_signal_pending.append(self.faults_out)
        return written

    monkeypatch.setattr(_changes.ChangeLedger, "take_faults_out", ctrl_c_first)
    result, said = run_policy_and_faults(shop_api, gateway_stub, tmp_path, monkeypatch)
    assert reverted_with_signal_pending == [True]  # the revert ran to its end with the second signal held
    assert result.status == "interrupted"
    assert result.error == "interrupted by Ctrl-C, SIGTERM or SIGHUP; every change was reverted (read back from the API)"
    assert istio_state(shop_api) == before
    assert shop_api.list("leases", "shop") == []
    assert {sig: signal.getsignal(sig) for sig in handlers} == handlers  # the caller's handlers are back
