"""The live mesh lint reads: in memory, and through the real kubernetes client against the sandbox's API server
with the harness's own (namespaced) credentials."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.errors import ForbiddenError
from harness.mesh import (
    KubernetesBackend,
    KubernetesLiveReader,
    MemoryLiveReader,
    endpoints_object,
    pod_object,
    read_live,
    service_object,
)
from tests.cluster import ApiCluster

VS = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService", "metadata": {"name": "reviews", "namespace": "shop"},
      "spec": {"hosts": ["reviews"], "http": [{"route": [{"destination": {"host": "reviews"}}]}]}}
PODS = [pod_object("reviews-v1-0", "shop", {"app": "reviews", "version": "v1"}),
        pod_object("reviews-v1-1", "shop", {"app": "reviews", "version": "v1"}),
        pod_object("reviews-v2-0", "shop", {"app": "reviews", "version": "v2"}, sidecar=False)]
ENDPOINTS = [endpoints_object("reviews", "shop", ["reviews-v1-0", "reviews-v1-1", "reviews-v2-0"])]


def test_a_snapshot_of_one_namespace() -> None:
    reader = MemoryLiveReader([VS], namespaces={"shop": {"istio-injection": "enabled"}}, pods=PODS,
                              endpoints=ENDPOINTS, services=[service_object("reviews", "shop")], http_routes=[])
    live = read_live(reader, "shop")
    assert [o["metadata"]["name"] for o in live.of_kind("VirtualService")] == ["reviews"]
    assert live.namespace_labels == {"istio-injection": "enabled"} and live.unread == ()
    assert [p.has_sidecar for p in live.pods or ()] == [True, True, False]
    assert live.endpoint_count("reviews", {"version": "v1"}) == 2 and live.endpoint_count("reviews", {}) == 3
    assert live.endpoint_count("ratings", {}) is None  # no Endpoints: unknown, not zero
    assert live.service_labels == {"reviews": {"app": "reviews"}} and live.http_routes == ()


def test_what_cannot_be_read_is_named_not_guessed() -> None:
    class NoNamespaces(MemoryLiveReader):
        def namespace_labels(self, namespace: str) -> dict[str, str]:
            raise ForbiddenError("namespaces is forbidden")

    live = read_live(NoNamespaces([VS], pods=PODS), "shop")  # http_routes=None: the Gateway API is not served
    assert live.namespace_labels is None and live.http_routes == ()
    assert live.unread == ("the labels of namespace shop (not permitted)",)
    assert live.endpoint_count("reviews", {"version": "v1"}) is None  # no Endpoints listed


def test_through_the_api_server_with_the_harness_role(cluster: ApiCluster, tmp_path: Path) -> None:
    admin_objects: list[dict[str, Any]] = [VS, *PODS, *ENDPOINTS, service_object("reviews", "shop")]
    for obj in admin_objects:
        cluster.put(obj)
    try:
        backend = KubernetesBackend(config_file=str(cluster.kubeconfig(tmp_path / "config", as_harness=True)))
        live = read_live(KubernetesLiveReader(backend), "shop")
    finally:
        for obj in admin_objects:
            cluster.admin.delete(obj["kind"], "shop", obj["metadata"]["name"])
    assert [o["metadata"]["name"] for o in live.of_kind("VirtualService")] == ["reviews"]
    assert not live.cluster_wide  # deploy/rbac.yaml is a namespaced Role
    assert sorted((p.name, p.has_sidecar) for p in live.pods or ()) == [
        ("reviews-v1-0", True), ("reviews-v1-1", True), ("reviews-v2-0", False)]
    assert live.endpoint_count("reviews", {"version": "v1"}) == 2
    assert live.service_labels == {"reviews": {"app": "reviews"}}
    assert live.namespace_labels == {}  # deploy/rbac.yaml's ClusterRole grants a get of this one Namespace
    assert live.unread == ()
    assert live.http_routes == ()  # the sandbox does not serve the Gateway API: no HTTPRoute can claim a host
