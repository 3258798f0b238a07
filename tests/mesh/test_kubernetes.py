"""The kubernetes backend, with the real kubernetes client, against the fake API server over HTTP."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.errors import BackendError, ConflictError, NotFoundError, TransientBackendError
from harness.experiment import Fault
from harness.mesh import KubernetesBackend, check_target, inject, restore
from tests.cluster import ApiCluster, api_cluster

VS = yaml.safe_load("""
apiVersion: networking.istio.io/v1
kind: VirtualService
metadata: {name: reviews, namespace: shop, labels: {app: reviews}}
spec:
  hosts: [reviews]
  http: [{name: main, route: [{destination: {host: reviews}}], retries: {attempts: 2}}]
""")
FAULT = Fault.model_validate({"host": "reviews", "delay": {"fixedDelay": "1s", "percentage": 50}})


def spec_and_annotations(obj: dict | None) -> tuple:
    assert obj is not None
    return obj["spec"], obj["metadata"].get("annotations")


@pytest.mark.parametrize("served", [("v1", "v1beta1", "v1alpha3"), ("v1beta1", "v1alpha3"), ("v1alpha3",)])
def test_the_newest_served_version_is_used(tmp_path: Path, served: tuple[str, ...]) -> None:
    with api_cluster(tmp_path / "api", istio_versions=served) as server:
        config = server.kubeconfig(tmp_path / "config")
        backend = KubernetesBackend(config_file=str(config))
        assert backend.version == served[0]
        server.put({**VS, "apiVersion": f"networking.istio.io/{served[-1]}"})
        listed = backend.list_objects("VirtualService", "shop")
        assert [o["metadata"]["name"] for o in listed] == ["reviews"]
        assert listed[0]["apiVersion"] == f"networking.istio.io/{served[0]}"  # read at the version asked for


def test_inject_and_restore_round_trip_exactly(apiserver: ApiCluster, kubeconfig: Path) -> None:
    original = apiserver.put(VS)
    backend = KubernetesBackend(config_file=str(kubeconfig))
    applied = inject(backend, FAULT, namespace="shop", run_id="r1", owner="ci", ttl_s=60)
    live = apiserver.get("shop", "reviews")
    assert live is not None and live["metadata"]["resourceVersion"] != original["metadata"]["resourceVersion"]
    assert [r["name"] for r in live["spec"]["http"]] == ["chaos-r1-main", "main"]
    assert restore(backend, "shop", "reviews", applied.run_id).action == "restored"
    assert spec_and_annotations(apiserver.get("shop", "reviews")) == spec_and_annotations(original)


def test_a_stale_write_is_a_conflict(apiserver: ApiCluster, kubeconfig: Path) -> None:
    apiserver.put(VS)
    backend = KubernetesBackend(config_file=str(kubeconfig))
    stale = backend.get_object("VirtualService", "shop", "reviews")
    apiserver.put({**stale, "spec": {**stale["spec"], "hosts": ["reviews", "reviews.shop"]}})
    with pytest.raises(ConflictError, match="has been modified"):
        backend.replace_object(stale)
    with pytest.raises(ConflictError):
        backend.delete_object("VirtualService", "shop", "reviews", stale["metadata"]["resourceVersion"])
    with pytest.raises(NotFoundError):
        backend.get_object("VirtualService", "shop", "nope")


def test_api_errors_are_retried_with_backoff(apiserver: ApiCluster, kubeconfig: Path) -> None:
    apiserver.put(VS)
    backend = KubernetesBackend(config_file=str(kubeconfig))
    apiserver.fail_next(2, 503)
    inject(backend, FAULT, namespace="shop", run_id="r1", owner="ci", ttl_s=60)
    apiserver.fail_next(3, 500)
    assert restore(backend, "shop", "reviews", "r1").action == "restored"


def test_an_injection_whose_answer_was_lost_is_not_written_twice(apiserver: ApiCluster, kubeconfig: Path) -> None:
    # A write can commit and still answer 504 (the request outlived its timeout); the retry must see that it landed
    # instead of merging the fault a second time into the already faulted spec.
    original = apiserver.put(VS)
    backend = KubernetesBackend(config_file=str(kubeconfig))
    apiserver.lose_answers(after=1)  # the list goes through, the replace lands and answers 504
    applied = inject(backend, FAULT, namespace="shop", run_id="r1", owner="ci", ttl_s=60)
    live = apiserver.get("shop", "reviews")
    assert live is not None and [r["name"] for r in live["spec"]["http"]] == ["chaos-r1-main", "main"]
    assert applied.before is not None and applied.before["spec"] == original["spec"]
    assert applied.after["metadata"]["resourceVersion"] == live["metadata"]["resourceVersion"]
    assert restore(backend, "shop", "reviews", "r1").action == "restored"
    assert spec_and_annotations(apiserver.get("shop", "reviews")) == spec_and_annotations(original)


def test_a_created_policy_whose_answer_was_lost_is_still_deleted_at_restore(apiserver: ApiCluster,
                                                                            kubeconfig: Path) -> None:
    from harness.mesh import apply_policy

    backend = KubernetesBackend(config_file=str(kubeconfig))
    rule = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "reviews-od", "namespace": "shop"},
            "spec": {"host": "reviews", "trafficPolicy": {"outlierDetection": {"consecutive5xxErrors": 1}}}}
    apiserver.lose_answers(after=1)  # the get (404) goes through, the create lands and answers 504
    applied = apply_policy(backend, rule, run_id="r1", owner="ci", ttl_s=60)
    assert applied.created and applied.before is None
    assert restore(backend, "shop", "reviews-od", "r1", kind="DestinationRule").action == "deleted"
    with pytest.raises(NotFoundError):
        backend.get_object("DestinationRule", "shop", "reviews-od")


def test_a_restore_that_keeps_failing_raises(apiserver: ApiCluster, kubeconfig: Path) -> None:
    apiserver.put(VS)
    backend = KubernetesBackend(config_file=str(kubeconfig))
    inject(backend, FAULT, namespace="shop", run_id="r1", owner="ci", ttl_s=60)
    apiserver.fail_next(50, 500)
    with pytest.raises(TransientBackendError, match="500"):
        restore(backend, "shop", "reviews", "r1")


def test_a_second_run_refuses(apiserver: ApiCluster, kubeconfig: Path) -> None:
    apiserver.put(VS)
    backend = KubernetesBackend(config_file=str(kubeconfig))
    inject(backend, FAULT, namespace="shop", run_id="r1", owner="alice", ttl_s=60)
    with pytest.raises(BackendError, match="held by chaos run r1"):
        inject(backend, FAULT, namespace="shop", run_id="r2", owner="bob", ttl_s=60)


def test_the_fake_server_is_faithful_about_patches(apiserver: ApiCluster, kubeconfig: Path) -> None:
    from kubernetes import client, config

    apiserver.put(VS)
    api = client.CustomObjectsApi(config.new_client_from_config(config_file=str(kubeconfig)))
    args = ("networking.istio.io", "v1", "shop", "virtualservices", "reviews")
    patched = api.patch_namespaced_custom_object(*args, {"metadata": {"labels": {"chaos": "yes"}}})
    assert patched["metadata"]["labels"] == {"app": "reviews", "chaos": "yes"}
    ops = [{"op": "replace", "path": "/spec/hosts/0", "value": "reviews.shop.svc.cluster.local"}]
    from kubernetes.client.exceptions import ApiException

    with pytest.raises(ApiException) as caught:  # the client sends merge-patch by default
        api.patch_namespaced_custom_object(*args, ops)
    assert caught.value.status == 400
    patched = api.patch_namespaced_custom_object(*args, ops, _content_type="application/json-patch+json")
    assert patched["spec"]["hosts"] == ["reviews.shop.svc.cluster.local"]
    listed = api.list_namespaced_custom_object("networking.istio.io", "v1", "shop", "virtualservices",
                                               label_selector="chaos=yes")
    assert len(listed["items"]) == 1


@pytest.mark.parametrize(("namespace", "context"), [("prod", None), ("shop", "gke-production-eu"), ("live", "x")])
def test_production_looking_targets_are_refused(namespace: str, context: str | None) -> None:
    with pytest.raises(BackendError, match="looks like production"):
        check_target(namespace, context)
    check_target(namespace, context, allow_production=True)


def test_namespace_allow_list() -> None:
    check_target("staging", "kind-staging", allowed=["staging"])
    with pytest.raises(BackendError, match="not in the allow-list"):
        check_target("payments", "kind-staging", allowed=["staging"])


def test_inject_and_revert_commands_against_a_cluster(apiserver: ApiCluster, kubeconfig: Path,
                                                      tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from harness.cli import app

    original = apiserver.put(VS)
    experiment = tmp_path / "exp.yaml"
    experiment.write_text("apiVersion: harness/v1\nkind: Experiment\nmetadata: {name: hands-on}\n"
                          "target: {namespace: shop, backend: kubernetes}\n"
                          "faults: [{host: reviews, abort: {httpStatus: 503, percentage: 10}}]\n")
    k8s = ["--backend", "kubernetes", "--kubeconfig", str(kubeconfig)]
    injected = CliRunner().invoke(app, ["inject", str(experiment), *k8s])
    assert injected.exit_code == 0, injected.output
    assert "+- name: chaos-" in injected.output and "changed VirtualService shop/reviews" in injected.output
    run_id = injected.output.split("run id: ")[1].split()[0]
    assert spec_and_annotations(apiserver.get("shop", "reviews")) != spec_and_annotations(original)
    reverted = CliRunner().invoke(app, ["revert", run_id, *k8s])
    assert reverted.exit_code == 0, reverted.output
    assert "shop/reviews: restored" in reverted.output
    assert spec_and_annotations(apiserver.get("shop", "reviews")) == spec_and_annotations(original)
