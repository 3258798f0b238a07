"""The cluster objects a sandbox seeds: namespaces, RBAC, and a Service, Deployments and Pods per service.

They describe what really runs (each Pod is one replica listening on its own loopback port, each
Endpoints address is that port), so ``kubectl get pods,endpoints`` and the harness's lint read the
same facts a cluster would give. Pod names follow the Deployment controller's pattern
``<deployment>-<pod-template-hash>-<suffix>`` (https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#pod-template-hash-label).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from harness._shipped import shipped_dir
from harness.errors import SandboxError
from harness.sandbox._layout import Layout, Proxy, Replica
from harness.sandbox._topology import Topology

HARNESS_ACCOUNT = "chaos-harness"
TOKEN_SECRET = "chaos-harness-token"
ISTIO_NAMESPACE = "istio-system"
GATEWAY_SERVICE_ACCOUNT = "istio-ingressgateway-service-account"
# the annotation istio's injector writes on injected pods (pkg/kube/inject/inject.go, annotation.SidecarStatus)
SIDECAR_STATUS = json.dumps({"initContainers": ["istio-init"], "containers": ["istio-proxy"],
                             "volumes": ["istio-envoy", "istio-data", "istio-podinfo", "istio-token", "istiod-ca-cert"],
                             "imagePullSecrets": None, "revision": "default"})
_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # the alphabet of k8s.io/apimachinery/pkg/util/rand.SafeEncodeString


def rbac_file() -> Path:
    return shipped_dir("deploy") / "rbac.yaml"


def _safe_hash(text: str, length: int) -> str:
    digest = hashlib.sha256(text.encode()).digest()
    return "".join(_SAFE[b % len(_SAFE)] for b in digest[:length])


@dataclass(frozen=True)
class PodRef:
    """One Pod and what backs it: a replica in the services process, its workload's Envoy, or both."""

    name: str
    namespace: str
    replica: str | None     # Replica.name, for demo pods
    proxy: str | None       # Proxy.name, for pods with an Envoy (client sidecars, the gateway)


def template_hash(deployment: str) -> str:
    return _safe_hash(f"template/{deployment}", 10)


def pod_name(deployment: str, index: int) -> str:
    return f"{deployment}-{template_hash(deployment)}-{_safe_hash(f'pod/{deployment}/{index}', 5)}"


def pod_refs(layout: Layout) -> list[PodRef]:
    """Every Pod of the sandbox: one per replica, and the ingress gateway's."""
    refs = []
    for replica in layout.replicas:
        sidecar = layout.sidecar_for(replica.service, replica.version)
        refs.append(PodRef(pod_name(replica.workload, replica.index), layout.namespace, replica.name,
                           sidecar.name if sidecar else None))
    gateway = layout.gateway
    refs.append(PodRef(pod_name(gateway.workload, 0), gateway.namespace, None, gateway.name))
    return refs


def pod_status(started_at: str, restart_count: int, containers: list[str]) -> dict[str, Any]:
    """A Running pod's status, as the kubelet reports it."""
    statuses = [{"name": c, "ready": True, "started": True, "restartCount": restart_count, "image": f"sandbox/{c}",
                 "imageID": "", "state": {"running": {"startedAt": started_at}}} for c in containers]
    conditions = [{"type": t, "status": "True", "lastTransitionTime": started_at}
                  for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")]
    return {"phase": "Running", "podIP": "127.0.0.1", "podIPs": [{"ip": "127.0.0.1"}], "hostIP": "127.0.0.1",
            "startTime": started_at, "conditions": conditions, "containerStatuses": statuses, "qosClass": "BestEffort"}


def namespaces(topology: Topology) -> list[dict[str, Any]]:
    shop = {"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": topology.namespace, "labels": {"istio-injection": "enabled"}}}
    system = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ISTIO_NAMESPACE}}
    names = {topology.namespace, ISTIO_NAMESPACE}
    gateway_ns = [] if topology.gateway.namespace in names else [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": topology.gateway.namespace}}]
    return [shop, system, *gateway_ns]


def rbac_objects(namespace: str, path: Path | None = None) -> list[dict[str, Any]]:
    """deploy/rbac.yaml, moved into the topology's namespace (it ships for ``shop``)."""
    path = path or rbac_file()
    try:
        documents = [d for d in yaml.safe_load_all(path.read_text()) if d]
    except OSError as exc:
        raise SandboxError(f"cannot read the harness RBAC manifest {path}: {exc.strerror or exc}",
                           hint="the sandbox applies the repository's deploy/rbac.yaml; run from a full checkout") from None
    except yaml.YAMLError as exc:
        raise SandboxError(f"{path}: invalid YAML: {exc}") from None
    for doc in documents:
        meta = doc.setdefault("metadata", {})
        if doc.get("kind", "").startswith("Cluster"):  # cluster-scoped: named after the namespace they serve
            meta["name"] = meta["name"].removesuffix("-shop") + f"-{namespace}"
            doc.get("roleRef", {})["name"] = meta["name"]
            for rule in doc.get("rules") or []:
                if rule.get("resourceNames") == ["shop"]:
                    rule["resourceNames"] = [namespace]
        else:
            meta["namespace"] = namespace
        for subject in doc.get("subjects") or []:
            if subject.get("kind") == "ServiceAccount":
                subject["namespace"] = namespace
    return documents


def token_secret(namespace: str) -> dict[str, Any]:
    """A legacy ServiceAccount token Secret; the API server fills in data.token
    (https://kubernetes.io/docs/concepts/configuration/secret/#serviceaccount-token-secrets)."""
    return {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
            "metadata": {"name": TOKEN_SECRET, "namespace": namespace,
                         "annotations": {"kubernetes.io/service-account.name": HARNESS_ACCOUNT}}}


def service_objects(topology: Topology, layout: Layout) -> list[dict[str, Any]]:
    """Per service: Service, Endpoints (one address per replica port) and ServiceAccount."""
    objects: list[dict[str, Any]] = []
    ns = topology.namespace
    for service in topology.services:
        meta = {"name": service.name, "namespace": ns, "labels": {"app": service.name}}
        objects.append({"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": {
            "selector": {"app": service.name}, "type": "ClusterIP",
            "ports": [{"name": "http", "port": service.port, "targetPort": service.port, "protocol": "TCP"}]}})
        subsets = [{"addresses": [{"ip": "127.0.0.1", "targetRef": {
                        "kind": "Pod", "namespace": ns, "name": pod_name(r.workload, r.index)}}],
                    "ports": [{"name": "http", "port": r.port, "protocol": "TCP"}]}
                   for r in layout.replicas_of(service.name)]
        objects.append({"apiVersion": "v1", "kind": "Endpoints", "metadata": dict(meta), "subsets": subsets})
        objects.append({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": service.name, "namespace": ns}})
    return objects


def _container(name: str, port: int | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": name, "image": f"sandbox/{name}"}
    if port:
        container["ports"] = [{"containerPort": port, "protocol": "TCP"}]
    return container


def _deployment(name: str, namespace: str, labels: dict[str, str], replicas: int, account: str,
                containers: list[dict[str, Any]]) -> dict[str, Any]:
    template_labels = {**labels, "pod-template-hash": template_hash(name)}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": name, "namespace": namespace, "labels": dict(labels)},
            "spec": {"replicas": replicas, "selector": {"matchLabels": dict(labels)},
                     "template": {"metadata": {"labels": template_labels},
                                  "spec": {"serviceAccountName": account, "containers": containers}}}}


def deployment_status(replicas: int) -> dict[str, Any]:
    return {"observedGeneration": 1, "replicas": replicas, "readyReplicas": replicas, "availableReplicas": replicas,
            "updatedReplicas": replicas}


@dataclass(frozen=True)
class Workload:
    """A Deployment and its Pods, each Pod with the status it is seeded with."""

    deployment: dict[str, Any]
    pods: list[dict[str, Any]]
    containers: list[str]


def _pod(name: str, namespace: str, labels: dict[str, str], account: str, containers: list[dict[str, Any]],
         sidecar: bool) -> dict[str, Any]:
    annotations = {"sidecar.istio.io/status": SIDECAR_STATUS} if sidecar else {}
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels, "annotations": annotations},
            "spec": {"serviceAccountName": account, "nodeName": "sandbox", "containers": containers}}


def demo_workloads(topology: Topology, layout: Layout) -> list[Workload]:
    """A Deployment per service version, a Pod per replica; client workloads carry a sidecar."""
    workloads = []
    for service in topology.services:
        for version in service.versions:
            deployment = f"{service.name}-{version.name}"
            sidecar = layout.sidecar_for(service.name, version.name) is not None
            containers = [_container(service.name, service.port)] + ([_container("istio-proxy")] if sidecar else [])
            labels = {"app": service.name, "version": version.name}
            replicas: list[Replica] = [r for r in layout.replicas if r.workload == deployment]
            pod_labels = {**labels, "pod-template-hash": template_hash(deployment)}
            pods = [_pod(pod_name(deployment, r.index), topology.namespace, dict(pod_labels), service.name, containers,
                         sidecar) for r in replicas]
            workloads.append(Workload(_deployment(deployment, topology.namespace, labels, len(replicas), service.name,
                                                  containers), pods, [c["name"] for c in containers]))
    return workloads


def gateway_workload(layout: Layout) -> tuple[list[dict[str, Any]], Workload]:
    """The ingress gateway: its ServiceAccount, Service and Deployment/Pod (label istio=ingressgateway)."""
    gateway: Proxy = layout.gateway
    containers = [_container("istio-proxy")]
    labels = dict(gateway.labels)
    service = {"apiVersion": "v1", "kind": "Service",
               "metadata": {"name": gateway.workload, "namespace": gateway.namespace, "labels": dict(labels)},
               "spec": {"selector": dict(labels), "type": "LoadBalancer",
                        "ports": [{"name": f"http{port}", "port": port, "targetPort": local, "protocol": "TCP"}
                                  for port, local in gateway.listener_ports.items()]}}
    account = {"apiVersion": "v1", "kind": "ServiceAccount",
               "metadata": {"name": GATEWAY_SERVICE_ACCOUNT, "namespace": gateway.namespace}}
    pod_labels = {**labels, "pod-template-hash": template_hash(gateway.workload)}
    pod = _pod(pod_name(gateway.workload, 0), gateway.namespace, pod_labels, GATEWAY_SERVICE_ACCOUNT, containers, False)
    deployment = _deployment(gateway.workload, gateway.namespace, labels, 1, GATEWAY_SERVICE_ACCOUNT, containers)
    return [account, service], Workload(deployment, [pod], ["istio-proxy"])
