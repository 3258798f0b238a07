"""Inject and restore against an in-memory backend: exact restores, conflicts, locks, cleanup."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from harness.errors import BackendError, ExperimentError
from harness.experiment import Fault
from harness.mesh import MemoryBackend, inject, is_active, marked_virtual_services, restore

VS = yaml.safe_load("""
metadata: {name: reviews, namespace: shop, labels: {team: a}, annotations: {note: keep-me}}
spec:
  hosts: [reviews]
  http: [{name: main, route: [{destination: {host: reviews}}], timeout: 2s}]
""")
FAULT = Fault.model_validate({"host": "reviews", "abort": {"httpStatus": 503}})


def backend() -> MemoryBackend:
    return MemoryBackend([VS])


def stripped(obj: dict) -> dict:
    meta = {k: v for k, v in obj["metadata"].items() if k != "resourceVersion"}
    return {"metadata": meta, "spec": obj["spec"]}


def test_inject_marks_and_restore_puts_back_exactly() -> None:
    mesh = backend()
    before = mesh.get_object("VirtualService", "shop", "reviews")
    applied = inject(mesh, FAULT, namespace="shop", run_id="r1", owner="alice", ttl_s=60)
    live = mesh.get_object("VirtualService", "shop", "reviews")
    assert is_active(mesh, applied)
    assert live["metadata"]["annotations"]["chaos.harness.io/run-id"] == "r1"
    assert live["metadata"]["annotations"]["chaos.harness.io/owner"] == "alice"
    assert restore(mesh, "shop", "reviews", "r1").action == "restored"
    assert stripped(mesh.get_object("VirtualService", "shop", "reviews")) == stripped(before)


def test_someone_elses_change_is_kept_and_reported() -> None:
    mesh = backend()
    inject(mesh, FAULT, namespace="shop", run_id="r1", owner="alice", ttl_s=60)
    live = mesh.get_object("VirtualService", "shop", "reviews")
    live["spec"]["http"][-1]["timeout"] = "9s"  # a colleague edits the original route meanwhile
    mesh.replace_object(live)
    result = restore(mesh, "shop", "reviews", "r1")
    assert result.conflict
    after = mesh.get_object("VirtualService", "shop", "reviews")
    assert [r["name"] for r in after["spec"]["http"]] == ["main"]
    assert after["spec"]["http"][0]["timeout"] == "9s"
    assert "chaos.harness.io/run-id" not in after["metadata"]["annotations"]


def test_removed_routes_make_the_fault_inactive() -> None:
    mesh = backend()
    applied = inject(mesh, FAULT, namespace="shop", run_id="r1", owner="alice", ttl_s=60)
    live = mesh.get_object("VirtualService", "shop", "reviews")
    live["spec"] = VS["spec"]  # GitOps puts back what is in git
    mesh.replace_object(live)
    assert not is_active(mesh, applied)


def test_a_second_run_on_the_same_target_refuses_and_names_the_holder() -> None:
    mesh = backend()
    inject(mesh, FAULT, namespace="shop", run_id="r1", owner="alice", ttl_s=60)
    with pytest.raises(BackendError, match="held by chaos run r1 \\(owner alice"):
        inject(mesh, FAULT, namespace="shop", run_id="r2", owner="bob", ttl_s=60)


def test_a_host_without_virtual_service_is_refused_and_lists_what_exists() -> None:
    mesh = backend()
    typo = Fault.model_validate({"host": "reveiws", "abort": {"httpStatus": 500}})
    with pytest.raises(ExperimentError, match=r"no VirtualService in namespace shop routes reveiws\.shop\.svc\.cluster"
                       r"\.local; VirtualServices in shop: reviews \(hosts: reviews\)") as caught:
        inject(mesh, typo, namespace="shop", run_id="r1", owner="alice", ttl_s=60)
    assert "createVirtualService" in (caught.value.hint or "")
    assert [o["metadata"]["name"] for o in mesh.list_objects("VirtualService", "shop")] == ["reviews"]


def test_missing_virtual_service_is_created_when_asked_and_deleted_on_restore() -> None:
    mesh = backend()
    fault = Fault.model_validate({"host": "cart", "abort": {"httpStatus": 500}, "createVirtualService": True})
    applied = inject(mesh, fault, namespace="shop", run_id="r1", owner="alice", ttl_s=60)
    assert applied.created
    assert restore(mesh, "shop", applied.name, "r1").action == "deleted"
    assert [o["metadata"]["name"] for o in mesh.list_objects("VirtualService", "shop")] == ["reviews"]


def test_several_virtual_services_for_one_host_stop_and_list_them() -> None:
    mesh = MemoryBackend([VS, {**VS, "metadata": {"name": "reviews-2", "namespace": "shop"}}])
    with pytest.raises(ExperimentError, match="shop/reviews, shop/reviews-2"):
        inject(mesh, FAULT, namespace="shop", run_id="r1", owner="alice", ttl_s=60)


def test_cleanup_finds_only_expired_marks_when_asked() -> None:
    mesh = backend()
    inject(mesh, FAULT, namespace="shop", run_id="r1", owner="alice", ttl_s=60)
    assert marked_virtual_services(mesh, "shop", expired_only=True) == []
    later = datetime.now(UTC) + timedelta(minutes=5)
    (found,) = marked_virtual_services(mesh, "shop", expired_only=True, now=later)
    assert restore(mesh, "shop", found["metadata"]["name"]).action == "restored"
    assert marked_virtual_services(mesh, None, expired_only=False) == []


DR = yaml.safe_load("""
kind: DestinationRule
metadata: {name: reviews, namespace: shop}
spec: {host: reviews, trafficPolicy: {outlierDetection: {consecutive5xxErrors: 3}}}
""")


@pytest.mark.parametrize("kind", ["VirtualService", "DestinationRule"])
def test_policy_objects_are_applied_and_restored_exactly(kind: str) -> None:
    from harness.mesh import apply_policy

    mesh = backend()
    mesh.create_object(DR)
    before = mesh.get_object(kind, "shop", "reviews")
    policy = {"kind": kind, "metadata": {"name": "reviews", "namespace": "shop"},
              "spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews"}}],
                                                        "retries": {"attempts": 0}}]}
              if kind == "VirtualService" else {"host": "reviews"}}
    applied = apply_policy(mesh, policy, run_id="r1", owner="ci", ttl_s=60)
    assert mesh.get_object(kind, "shop", "reviews")["spec"] == policy["spec"]
    assert restore(mesh, "shop", "reviews", "r1", kind=applied.kind).action == "restored"
    assert stripped(mesh.get_object(kind, "shop", "reviews")) == stripped(before)


def test_a_policy_changed_by_someone_else_is_left_as_they_made_it() -> None:
    from harness.mesh import apply_policy

    mesh = backend()
    mesh.create_object(DR)
    apply_policy(mesh, {**DR, "spec": {"host": "reviews"}}, run_id="r1", owner="ci", ttl_s=60)
    live = mesh.get_object("DestinationRule", "shop", "reviews")
    live["spec"]["subsets"] = [{"name": "v9", "labels": {"version": "v9"}}]
    mesh.replace_object(live)
    result = restore(mesh, "shop", "reviews", "r1", kind="DestinationRule")
    assert result.conflict and result.action == "left (conflict)"
    assert mesh.get_object("DestinationRule", "shop", "reviews")["spec"]["subsets"][0]["name"] == "v9"


POLICY_VS = yaml.safe_load("""
kind: VirtualService
metadata: {name: reviews, namespace: shop}
spec:
  hosts: [reviews]
  http: [{name: main, route: [{destination: {host: reviews}}], timeout: 2s, retries: {attempts: 3, perTryTimeout: 0.5s}}]
""")


def test_a_policy_and_a_fault_on_one_virtual_service_restore_exactly_in_either_order_of_events() -> None:
    from harness.mesh import apply_policy, marked_objects, restore_marked

    for killed_before_revert in (False, True):
        mesh = backend()
        before = stripped(mesh.get_object("VirtualService", "shop", "reviews"))
        apply_policy(mesh, POLICY_VS, run_id="r1", owner="alice", ttl_s=60)
        inject(mesh, FAULT, namespace="shop", run_id="r1", owner="alice", ttl_s=60)
        if killed_before_revert:  # cleanup after kill -9 finds both layers from the marks alone
            (left,) = marked_objects(mesh, "shop", expired_only=False)
            assert restore_marked(left, mesh).action == "restored"
        else:  # the runner: fault out first (policy stays, marks kept), then the policy
            out = restore(mesh, "shop", "reviews", "r1", fault_only=True)
            assert out.action.startswith("fault removed")
            live = mesh.get_object("VirtualService", "shop", "reviews")
            assert live["spec"] == POLICY_VS["spec"] and marked_objects(mesh, "shop", expired_only=False)
            assert restore(mesh, "shop", "reviews", "r1").action == "restored"
        assert stripped(mesh.get_object("VirtualService", "shop", "reviews")) == before
        assert not marked_objects(mesh, "shop", expired_only=False)


def test_a_policy_whose_numbers_the_api_server_normalised_is_still_ours() -> None:
    from harness.mesh import apply_policy

    mesh = backend()
    policy = {**POLICY_VS, "spec": {**POLICY_VS["spec"], "http": [{**POLICY_VS["spec"]["http"][0],
                                                                   "retries": {"attempts": 3.0}}]}}
    apply_policy(mesh, policy, run_id="r1", owner="alice", ttl_s=60)
    live = mesh.get_object("VirtualService", "shop", "reviews")
    live["spec"]["http"][0]["retries"]["attempts"] = 3  # what a Go API server hands back for 3.0
    mesh.replace_object(live)
    assert restore(mesh, "shop", "reviews", "r1").action == "restored"


def test_cleanup_without_flags_leaves_live_runs_and_names_them() -> None:
    from harness.mesh import plan_cleanup

    mesh = backend()
    inject(mesh, FAULT, namespace="shop", run_id="live1", owner="bob", ttl_s=600)
    plan = plan_cleanup(mesh, "shop")
    assert plan.restore == [] and [o["metadata"]["name"] for o in plan.skipped] == ["reviews"]
    later = datetime.now(UTC) + timedelta(hours=1)
    assert [o["metadata"]["name"] for o in plan_cleanup(mesh, "shop", now=later).restore] == ["reviews"]
    assert len(plan_cleanup(mesh, "shop", run_id="live1").restore) == 1
    assert len(plan_cleanup(mesh, "shop", everything=True).restore) == 1
    assert plan_cleanup(mesh, "shop", run_id="other").restore == []


def test_a_second_run_on_a_held_target_is_refused_naming_the_holder_until_its_lease_expires() -> None:
    from harness.mesh import RunLock, stale_leases

    mesh = backend()
    first = RunLock(mesh, "shop", ["reviews"], run_id="run-a", owner="alice", duration_s=60)
    first.acquire()
    second = RunLock(mesh, "shop", ["reviews", "cart"], run_id="run-b", owner="bob", duration_s=60)
    with pytest.raises(BackendError, match=r"shop/reviews is held by chaos run run-a \(owner alice"):
        second.acquire()
    assert [o["metadata"]["name"] for o in mesh.list_objects("Lease", "shop")] == ["chaos-harness-reviews"]
    first.renew()
    assert stale_leases(mesh, "shop") == []
    lease = mesh.get_object("Lease", "shop", "chaos-harness-reviews")
    lease["spec"]["renewTime"] = "2020-01-01T00:00:00.000000Z"  # run-a died long ago: its heartbeat stopped
    mesh.replace_object(lease)
    assert len(stale_leases(mesh, "shop")) == 1
    second.acquire()  # takes the expired lease over
    assert mesh.get_object("Lease", "shop", "chaos-harness-reviews")["spec"]["holderIdentity"] == "run-b"
    with pytest.raises(BackendError, match="taken by run run-b"):
        first.renew()
    second.release()
    assert mesh.list_objects("Lease", "shop") == []
