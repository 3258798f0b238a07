"""The run's ledger of changes: undo order, re-entry after a failure, and a closing word read from the API."""

from __future__ import annotations

import types

import pytest
import yaml

from harness import _changes
from harness.errors import HarnessError, TransientBackendError
from harness.experiment import Fault
from harness.mesh import MemoryBackend, apply_policy, inject

VS = yaml.safe_load("""
metadata: {name: reviews, namespace: shop}
spec: {hosts: [reviews], http: [{name: main, route: [{destination: {host: reviews}}], retries: {attempts: 2}}]}
""")
POLICY = {**VS, "kind": "VirtualService", "spec": {**VS["spec"], "http": [{**VS["spec"]["http"][0],
                                                                         "retries": {"attempts": 0}}]}}
FAULT = Fault.model_validate({"host": "reviews", "abort": {"httpStatus": 503}})


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("harness.mesh._faults.time", types.SimpleNamespace(sleep=lambda _: None))


class FlakyWrites(MemoryBackend):
    failing = False

    def replace_object(self, obj: dict) -> dict:
        if self.failing:
            raise TransientBackendError("Kubernetes API answered 503")
        return super().replace_object(obj)


def ledger(mesh: MemoryBackend, notes: list[str] | None = None) -> _changes.ChangeLedger:
    return _changes.ChangeLedger(mesh, "r1", finish_command="harness cleanup --run r1", notes=notes or [])


def test_a_policy_and_a_fault_come_out_last_in_first_out() -> None:
    mesh = MemoryBackend([VS])
    changes = ledger(mesh)
    policy = changes.policy_applied(apply_policy(mesh, POLICY, run_id="r1", owner="ci", ttl_s=60))
    fault = changes.fault_injected(inject(mesh, FAULT, namespace="shop", run_id="r1", owner="ci", ttl_s=60))
    (written,) = changes.take_faults_out()
    assert written.after["spec"] == POLICY["spec"] and changes.faults_out
    assert fault.restore.startswith("fault removed") and policy.restore == ""
    changes.restore_policies()
    assert policy.restore == "restored"
    assert changes.closing_word({"shop"}) == (True, "every change was reverted (read back from the API)")


def test_an_undo_re_entered_after_a_failure_retries_only_what_is_left() -> None:
    mesh = FlakyWrites([VS, {**VS, "metadata": {"name": "ratings", "namespace": "shop"},
                             "spec": {"hosts": ["ratings"], "http": [{"name": "main"}]}}])
    changes = ledger(mesh)
    for host in ("reviews", "ratings"):
        fault = Fault.model_validate({"host": host, "abort": {"httpStatus": 503}})
        changes.fault_injected(inject(mesh, fault, namespace="shop", run_id="r1", owner="ci", ttl_s=60))
    mesh.failing = True
    with pytest.raises(HarnessError, match=r"could not take the fault out of 2 object\(s\)") as caught:
        changes.take_faults_out()
    assert caught.value.hint == "finish it with: harness cleanup --run r1"
    assert changes.closing_word({"shop"})[0] is False
    mesh.failing = False
    assert len(changes.take_faults_out()) == 2  # both, once: nothing was done the first time
    assert changes.take_faults_out() == []      # and nothing again
    clean, word = changes.closing_word({"shop"})
    assert clean and word.startswith("on a later attempt every change was reverted")


def test_the_closing_word_names_a_marked_object_the_ledger_never_heard_of() -> None:
    """A write whose answer was lost: the object carries the run's fault, the run does not know it."""
    mesh = MemoryBackend([VS])
    changes = ledger(mesh)
    assert changes.closing_word({"shop"}) == (True, "nothing had been changed in the cluster")
    inject(mesh, FAULT, namespace="shop", run_id="r1", owner="ci", ttl_s=60)
    clean, word = changes.closing_word({"shop"})
    assert not clean
    assert word == ("LEFT IN THE CLUSTER by run r1: VirtualService shop/reviews: chaos route chaos-r1-main still in "
                    "spec.http; it still carries run r1's marks (chaos.harness.io/* annotations on it)\n"
                    "  finish it with: harness cleanup --run r1")


def test_each_undo_keeps_the_object_read_back_as_the_reports_proof_of_revert() -> None:
    from harness.report import RevertState, revert_proof

    mesh = MemoryBackend([VS])
    changes = ledger(mesh)
    policy = changes.policy_applied(apply_policy(mesh, POLICY, run_id="r1", owner="ci", ttl_s=60))
    fault = changes.fault_injected(inject(mesh, FAULT, namespace="shop", run_id="r1", owner="ci", ttl_s=60))
    changes.take_faults_out()
    assert fault.read_back and fault.final["spec"] == POLICY["spec"]  # the fault out, the policy still in
    assert revert_proof(fault).state is RevertState.PROVEN  # its own original: the object with the policy
    assert not policy.read_back and revert_proof(policy).state is RevertState.UNKNOWN
    changes.restore_policies()
    assert policy.final["spec"] == VS["spec"] and revert_proof(policy).state is RevertState.PROVEN
    versions = dict(revert_proof(policy).versions)
    assert list(versions) == ["before", "with the run's change", "after the revert"]
    assert len(set(versions.values())) == 3  # three writes, three resourceVersions


def test_an_object_changed_after_the_revert_is_not_proven_reverted() -> None:
    from harness.report import RevertState, revert_proof

    mesh = MemoryBackend([VS])
    changes = ledger(mesh)
    fault = changes.fault_injected(inject(mesh, FAULT, namespace="shop", run_id="r1", owner="ci", ttl_s=60))
    changes.take_faults_out()
    fault.final = {**fault.final, "spec": {**fault.final["spec"], "hosts": ["reviews", "extra"]}}
    proof = revert_proof(fault)
    assert proof.state is RevertState.LEFT and "+- extra" in proof.diff.replace("  ", "")
