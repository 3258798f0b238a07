"""Restores on the Kubernetes path: a policy and a fault on one VirtualService, idempotence, read-back."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.errors import TransientBackendError
from harness.experiment import Fault
from harness.mesh import (
    KubernetesBackend,
    MemoryBackend,
    apply_policy,
    inject,
    marked_objects,
    restore,
    restore_marked,
    what_is_left,
)
from harness.mesh._restore import first_difference
from tests.cluster import ApiCluster

ORIGINAL = yaml.safe_load("""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: productcatalog, namespace: shop, labels: {app: productcatalog}, annotations: {team: catalog}}
spec:
  hosts: [productcatalog]
  http:
    - name: productcatalog
      route:
        - {destination: {host: productcatalog, subset: v1}, weight: 80}
        - {destination: {host: productcatalog, subset: v2}, weight: 20}
      timeout: 2s
      retries: {attempts: 2, perTryTimeout: 500ms, retryOn: "5xx,connect-failure,refused-stream"}
""")
POLICY = yaml.safe_load((Path(__file__).resolve().parents[2] / "experiments" / "sandbox" / "policies"
                         / "productcatalog-no-retries.yaml").read_text())
FAULT = Fault.model_validate({"host": "productcatalog", "abort": {"httpStatus": 503}})


def spec_and_annotations(server: ApiCluster) -> tuple:
    live = server.get("shop", "productcatalog")
    assert live is not None
    return live["spec"], live["metadata"].get("annotations")


@pytest.fixture
def backend(apiserver: ApiCluster, kubeconfig: Path) -> KubernetesBackend:
    apiserver.put(ORIGINAL)
    return KubernetesBackend(config_file=str(kubeconfig))


def policy_then_fault(backend: KubernetesBackend) -> None:
    apply_policy(backend, POLICY, run_id="r1", owner="ci", ttl_s=600)
    inject(backend, FAULT, namespace="shop", run_id="r1", owner="ci", ttl_s=600)


def test_policy_first_in_last_out_restores_the_virtual_service_exactly(apiserver: ApiCluster,
                                                                       backend: KubernetesBackend) -> None:
    before = spec_and_annotations(apiserver)
    policy_then_fault(backend)
    fault_out = restore(backend, "shop", "productcatalog", "r1", fault_only=True)
    assert fault_out.is_done and fault_out.action.startswith("fault removed")
    spec, annotations = spec_and_annotations(apiserver)
    assert spec == POLICY["spec"]  # the policy under test, without the chaos route
    assert annotations["chaos.harness.io/run-id"] == "r1"  # marks stay until the policy's own restore
    assert what_is_left(backend, "VirtualService", "shop", "productcatalog", "r1", policy_stays=True) == ""
    assert "policy of run r1 is still applied" in what_is_left(backend, "VirtualService", "shop", "productcatalog", "r1")
    policy_out = restore(backend, "shop", "productcatalog", "r1")
    assert policy_out.is_done and policy_out.action == "restored"
    assert spec_and_annotations(apiserver) == before
    assert what_is_left(backend, "VirtualService", "shop", "productcatalog", "r1") == ""


def test_cleanup_from_the_marks_alone_restores_both_layers_at_once(apiserver: ApiCluster,
                                                                   backend: KubernetesBackend) -> None:
    before = spec_and_annotations(apiserver)
    policy_then_fault(backend)  # then kill -9: only the marks remain
    (left,) = marked_objects(backend, "shop", expired_only=False)
    result = restore_marked(left, backend)
    assert result.is_done and result.action == "restored"
    assert spec_and_annotations(apiserver) == before


def test_every_restore_is_idempotent_and_says_so(apiserver: ApiCluster, backend: KubernetesBackend) -> None:
    before = spec_and_annotations(apiserver)
    policy_then_fault(backend)
    for _ in range(2):  # a revert re-entered on the way out
        assert restore(backend, "shop", "productcatalog", "r1", fault_only=True).is_done
    assert restore(backend, "shop", "productcatalog", "r1", fault_only=True).action == "fault already gone"
    assert restore(backend, "shop", "productcatalog", "r1").action == "restored"
    again = restore(backend, "shop", "productcatalog", "r1")  # cleanup after the runner had finished
    assert again.is_done and again.action == "nothing of run r1 left" and not again.conflict
    assert spec_and_annotations(apiserver) == before


def test_a_restore_whose_first_answer_was_lost_finds_its_own_work_done(apiserver: ApiCluster,
                                                                      backend: KubernetesBackend) -> None:
    before = spec_and_annotations(apiserver)
    inject(backend, FAULT, namespace="shop", run_id="r1", owner="ci", ttl_s=600)
    replace = backend.replace_object
    calls = []

    def lost_answer(obj: dict) -> dict:
        written = replace(obj)  # the API server took it; the answer never arrived
        calls.append(written)
        if len(calls) == 1:
            raise TransientBackendError("Kubernetes API unreachable: connection reset")
        return written

    backend.replace_object = lost_answer  # type: ignore[method-assign]
    result = restore(backend, "shop", "productcatalog", "r1")
    assert result.is_done and result.action == "nothing of run r1 left"
    assert spec_and_annotations(apiserver) == before


class ControllerPutsItsSpecBack(MemoryBackend):
    """A controller that writes its own spec back right after every write of ours (GitOps, a webhook)."""

    controller_wins = False

    def replace_object(self, obj: dict) -> dict:
        if self.controller_wins:
            live = self.get_object(obj["kind"], obj["metadata"]["namespace"], obj["metadata"]["name"])
            obj = {**obj, "spec": live["spec"]}  # only our metadata changes stick
        return super().replace_object(obj)


def test_restored_is_said_only_when_the_read_back_matches() -> None:
    mesh = ControllerPutsItsSpecBack([ORIGINAL])
    inject(mesh, FAULT, namespace="shop", run_id="r1", owner="ci", ttl_s=600)
    mesh.controller_wins = True
    result = restore(mesh, "shop", "productcatalog", "r1")
    assert not result.is_done and result.action == "NOT restored"
    assert result.leftover.startswith("chaos route chaos-r1-productcatalog still in spec.http")
    assert "the spec differs from the recorded original at spec.http (2 items; the original has 1)" in result.leftover


@pytest.mark.parametrize(("have", "want", "where"), [
    ({"a": 1}, {"a": 1}, ""),
    ({"a": {"b": [1, 2]}}, {"a": {"b": [1, 3]}}, "spec.a.b[1] (= 2; the original has 3)"),
    ({"a": 1}, {"a": 1, "b": "x"}, 'spec.b (missing; the original has "x")'),
    ({"a": 1, "c": True}, {"a": 1}, "spec.c (= true; not in the original)"),
    ({"http": [1]}, {"http": [1, 2]}, "spec.http (1 items; the original has 2)"),
])
def test_first_difference_names_the_path(have: object, want: object, where: str) -> None:
    assert first_difference(have, want) == where
