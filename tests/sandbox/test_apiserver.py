"""The sandbox's Kubernetes API server behaves as kube-apiserver does where the harness and kubectl rely on it.

Each test names the Kubernetes documentation (or source) that pins the behaviour. The server is reached
with the real ``kubernetes`` client over HTTPS, and with the stock ``kubectl``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.errors import ConfigRejectedError, ConflictError, KubernetesError, NotFoundError
from harness.sandbox._kubeapi import KubeApi
from tests.cluster import ApiCluster

VS: dict[str, Any] = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                      "metadata": {"name": "reviews", "namespace": "shop"},
                      "spec": {"hosts": ["reviews"], "http": [{"name": "main", "route": [{"destination": {
                          "host": "reviews"}, "weight": 100}], "retries": {"attempts": 2}}]}}
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")


@pytest.fixture
def admin(cluster: ApiCluster) -> Iterator[KubeApi]:
    yield cluster.admin
    for obj in cluster.list("virtualservices"):
        cluster.admin.delete("VirtualService", "shop", obj["metadata"]["name"])


@pytest.fixture
def harness_api(cluster: ApiCluster) -> Iterator[KubeApi]:
    api = KubeApi.connect(cluster.url, cluster.endpoint.ca_cert, cluster.harness_token)
    yield api
    api.close()


def test_create_stamps_uid_version_generation_and_timestamp(admin: KubeApi) -> None:
    # https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions ; generation starts at 1
    created = admin.create(VS)
    meta = created["metadata"]
    assert meta["uid"] and meta["creationTimestamp"].endswith("Z") and meta["generation"] == 1
    assert int(meta["resourceVersion"]) > 0
    with pytest.raises(ConflictError, match='virtualservices.networking.istio.io "reviews" already exists'):
        admin.create(VS)


def test_a_stale_update_is_a_409_and_generation_counts_spec_changes_only(admin: KubeApi) -> None:
    # optimistic concurrency: https://kubernetes.io/docs/reference/using-api/api-concepts/#conflict-detection
    created = admin.create(VS)
    labelled = admin.replace({**created, "metadata": {**created["metadata"], "labels": {"team": "a"}}})
    assert labelled["metadata"]["generation"] == 1  # metadata is not spec
    changed = admin.replace({**labelled, "spec": {**labelled["spec"], "hosts": ["reviews", "reviews.shop"]}})
    assert changed["metadata"]["generation"] == 2
    with pytest.raises(ConflictError, match="the object has been modified"):
        admin.replace(created)  # carries the first resourceVersion


def test_an_update_that_changes_nothing_keeps_the_resource_version(admin: KubeApi) -> None:
    created = admin.create(VS)
    again = admin.replace(created)
    assert again["metadata"]["resourceVersion"] == created["metadata"]["resourceVersion"]


def test_numbers_come_back_as_the_go_server_encodes_them(admin: KubeApi) -> None:
    # unstructured JSON decodes 100.0 as float64 and encodes it back as 100 (k8s.io/apimachinery/pkg/util/json)
    body = json.loads(json.dumps(VS).replace('"weight": 100', '"weight": 100.0'))
    stored = admin.create(body)
    assert json.dumps(stored["spec"]["http"][0]["route"][0]["weight"]) == "100"


def test_strategic_merge_patch_on_a_custom_resource_is_415(admin: KubeApi) -> None:
    # https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/ :
    # "Strategic merge patch is not supported for custom resources."
    admin.create(VS)
    with pytest.raises(KubernetesError, match="unknown format"):
        admin.request("PATCH", "/apis/networking.istio.io/v1/namespaces/shop/virtualservices/reviews",
                      {"metadata": {"labels": {"x": "y"}}}, content_type="application/strategic-merge-patch+json")
    merged = admin.request("PATCH", "/apis/networking.istio.io/v1/namespaces/shop/virtualservices/reviews",
                           {"metadata": {"labels": {"x": "y"}}}, content_type="application/merge-patch+json")
    assert merged["metadata"]["labels"] == {"x": "y"}


def test_the_istio_webhook_refuses_an_invalid_object_before_it_is_stored(admin: KubeApi) -> None:
    bad = {**VS, "spec": {**VS["spec"], "http": [{**VS["spec"]["http"][0], "timeout": "banana"}]}}
    with pytest.raises(ConfigRejectedError, match='admission webhook "validation.istio.io" denied the request: '
                                                  "configuration is invalid: spec.http.0.timeout|timeout"):
        admin.create(bad)
    with pytest.raises(NotFoundError):
        admin.get("VirtualService", "shop", "reviews")


def test_finalizers_hold_a_deleted_object_until_they_are_removed(admin: KubeApi) -> None:
    # https://kubernetes.io/docs/concepts/overview/working-with-objects/finalizers/
    created = admin.create({**VS, "metadata": {**VS["metadata"], "finalizers": ["example.com/hold"]}})
    admin.delete("VirtualService", "shop", "reviews")
    held = admin.get("VirtualService", "shop", "reviews")
    assert held["metadata"]["deletionTimestamp"] and held["metadata"]["uid"] == created["metadata"]["uid"]
    admin.replace({**held, "metadata": {**held["metadata"], "finalizers": []}})
    with pytest.raises(NotFoundError):
        admin.get("VirtualService", "shop", "reviews")


def test_status_goes_through_its_subresource_only(admin: KubeApi) -> None:
    # https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#status-subresource
    created = admin.create({**VS, "status": {"observedGeneration": "7"}})
    assert "status" not in created
    admin.patch_status(created, {"observedGeneration": "1"})
    assert admin.get("VirtualService", "shop", "reviews")["status"] == {"observedGeneration": "1"}


def test_server_side_apply_conflicts_on_a_field_another_manager_owns(admin: KubeApi) -> None:
    # https://kubernetes.io/docs/reference/using-api/server-side-apply/#conflicts
    path = "/apis/networking.istio.io/v1/namespaces/shop/virtualservices/reviews"
    apply = "application/apply-patch+yaml"
    admin.request("PATCH", path, VS, query={"fieldManager": "team-a"}, content_type=apply)
    other = {**VS, "spec": {**VS["spec"], "hosts": ["reviews.shop"]}}
    with pytest.raises(ConflictError, match='conflict with "team-a"'):
        admin.request("PATCH", path, other, query={"fieldManager": "team-b"}, content_type=apply)
    forced = admin.request("PATCH", path, other, query={"fieldManager": "team-b", "force": "true"}, content_type=apply)
    assert forced["spec"]["hosts"] == ["reviews.shop"]


def test_rbac_answers_403_with_the_real_message(harness_api: KubeApi) -> None:
    # deploy/rbac.yaml is a namespaced Role: nothing at cluster scope, nothing in other namespaces
    with pytest.raises(KubernetesError, match='User "system:serviceaccount:shop:chaos-harness" cannot list resource '
                                              '"virtualservices" in API group "networking.istio.io" in the namespace '
                                              '"load"'):
        harness_api.list("VirtualService", "load")
    assert harness_api.list("VirtualService", "shop") == []


def test_the_harness_reads_its_own_namespace_and_no_other(harness_api: KubeApi) -> None:
    # deploy/rbac.yaml's ClusterRole names one Namespace (resourceNames; RBAC docs, "Referring to resources"):
    # lint reads its labels (ambient mode), and nothing else at cluster scope
    assert harness_api.request("GET", "/api/v1/namespaces/shop")["metadata"]["name"] == "shop"
    with pytest.raises(KubernetesError, match='cannot get resource "namespaces" in API group "" in the namespace '
                                              '"load"'):
        harness_api.request("GET", "/api/v1/namespaces/load")
    with pytest.raises(KubernetesError, match='cannot list resource "namespaces"'):
        harness_api.request("GET", "/api/v1/namespaces")


def test_a_wrong_token_is_401(cluster: ApiCluster) -> None:
    api = KubeApi.connect(cluster.url, cluster.endpoint.ca_cert, "not-a-token")
    try:
        with pytest.raises(KubernetesError, match="Unauthorized"):
            api.list("VirtualService", "shop")
    finally:
        api.close()


@needs_kubectl
def test_stock_kubectl_applies_gets_and_checks_access(cluster: ApiCluster, admin: KubeApi, tmp_path: Path) -> None:
    config = cluster.kubeconfig(tmp_path / "admin", "admin")
    harness_config = cluster.kubeconfig(tmp_path / "harness", "harness", as_harness=True)
    manifest = tmp_path / "vs.json"
    manifest.write_text(json.dumps(VS))

    def kubectl(*args: str, config: Path = config) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", "--kubeconfig", str(config), *args], capture_output=True, text=True,
                              timeout=60)

    assert "created" in kubectl("apply", "-f", str(manifest)).stdout
    assert "unchanged" in kubectl("apply", "-f", str(manifest)).stdout
    assert "(server dry run)" in kubectl("apply", "--dry-run=server", "-f", str(manifest)).stdout
    assert "serverside-applied" in kubectl("apply", "--server-side", "-f", str(manifest)).stdout
    listed = kubectl("get", "virtualservices", "-A")
    assert listed.returncode == 0 and "reviews" in listed.stdout and '["reviews"]' in listed.stdout
    shown = json.loads(kubectl("get", "vs", "reviews", "-n", "shop", "-o", "json").stdout)
    assert shown["spec"]["hosts"] == ["reviews"]
    assert kubectl("auth", "can-i", "patch", "virtualservices.networking.istio.io", "-n", "shop",
                   config=harness_config).stdout.strip() == "yes"
    assert kubectl("auth", "can-i", "delete", "pods", "-n", "shop", config=harness_config).stdout.strip() == "no"
    assert "deleted" in kubectl("delete", "-f", str(manifest)).stdout


@needs_kubectl
def test_a_namespace_is_read_labelled_and_shown_by_its_name(cluster: ApiCluster, tmp_path: Path) -> None:
    # A Namespace is cluster-scoped: it is stored without a namespace, while a request for namespaces/NAME carries
    # NAME as its namespace attribute for authorization (k8s.io/apiserver pkg/endpoints/request/requestinfo.go:
    # "if the resource is namespaces, the namespace is the name"). Lint reads namespace labels this way (ambient).
    config = cluster.kubeconfig(tmp_path / "kubeconfig")

    def kubectl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["kubectl", "--kubeconfig", str(config), *args], capture_output=True, text=True,
                              timeout=60)

    assert kubectl("label", "namespace", "load", "istio.io/dataplane-mode=ambient").returncode == 0
    shown = kubectl("get", "namespace", "load", "--show-labels")
    assert shown.returncode == 0, shown.stderr
    header, row = shown.stdout.splitlines()
    assert header.split() == ["NAME", "STATUS", "AGE", "LABELS"] and row.split()[:2] == ["load", "Active"]
    assert "istio.io/dataplane-mode=ambient" in row
    assert json.loads(kubectl("get", "ns", "load", "-o", "json").stdout)["metadata"]["labels"] == {
        "istio.io/dataplane-mode": "ambient"}
    assert kubectl("get", "ns", "nosuch").stderr.strip() == 'Error from server (NotFound): namespaces "nosuch" not found'


def _discovered(admin: KubeApi, path: str) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in admin.request("GET", path)["resources"]}


def test_discovery_serves_cronjobs_jobs_and_persistentvolumeclaims_as_the_real_server(admin: KubeApi) -> None:
    # The game day's kinds, as https://kubernetes.io/docs/reference/kubernetes-api/workload-resources/cron-job-v1/,
    # .../workload-resources/job-v1/ and .../config-and-storage-resources/persistent-volume-claim-v1/ give them
    # (apiVersion, kind, namespaced) and `kubectl api-resources` on a v1.31 cluster lists them:
    #   cronjobs  cj   batch/v1  true  CronJob           (pkg/registry/batch/cronjob/storage: ShortNames, Categories all)
    #   jobs           batch/v1  true  Job               (pkg/registry/batch/job/storage: Categories all)
    #   persistentvolumeclaims  pvc  v1  true  PersistentVolumeClaim  (pkg/registry/core/persistentvolumeclaim/storage)
    groups = {g["name"]: g for g in admin.request("GET", "/apis")["groups"]}
    assert groups["batch"]["preferredVersion"] == {"groupVersion": "batch/v1", "version": "v1"}
    batch = _discovered(admin, "/apis/batch/v1")
    assert {k: batch["cronjobs"][k] for k in ("kind", "namespaced", "singularName", "shortNames", "categories")} == {
        "kind": "CronJob", "namespaced": True, "singularName": "cronjob", "shortNames": ["cj"], "categories": ["all"]}
    assert {k: batch["jobs"][k] for k in ("kind", "namespaced", "categories")} == {
        "kind": "Job", "namespaced": True, "categories": ["all"]}
    assert {"cronjobs/status", "jobs/status"} <= set(batch)
    core = _discovered(admin, "/api/v1")
    claims = core["persistentvolumeclaims"]
    assert (claims["kind"], claims["namespaced"], claims["shortNames"]) == ("PersistentVolumeClaim", True, ["pvc"])
    assert "persistentvolumeclaims/status" in core


def test_a_cronjobs_generation_counts_spec_changes_and_a_deleted_claim_comes_back(admin: KubeApi) -> None:
    # CronJob's strategy sets generation 1 on create and adds 1 when the spec changed
    # (pkg/registry/batch/cronjob/strategy.go); a PVC delete answers with the object (ReturnDeletedObject).
    job = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly", "namespace": "shop"},
           "spec": {"schedule": "0 3 * * *", "jobTemplate": {"spec": {"template": {"spec": {
               "restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}}}}}}
    path = "/apis/batch/v1/namespaces/shop/cronjobs"
    created = admin.request("POST", path, job)
    assert created["metadata"]["generation"] == 1
    changed = admin.request("PUT", f"{path}/nightly", {**created, "spec": {**created["spec"], "schedule": "0 4 * * *"}})
    assert changed["metadata"]["generation"] == 2
    admin.request("DELETE", f"{path}/nightly")
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": "data", "namespace": "shop"},
             "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}
    admin.request("POST", "/api/v1/namespaces/shop/persistentvolumeclaims", claim)
    deleted = admin.request("DELETE", "/api/v1/namespaces/shop/persistentvolumeclaims/data")
    assert deleted["kind"] == "PersistentVolumeClaim" and deleted["spec"]["resources"]["requests"]["storage"] == "1Gi"
