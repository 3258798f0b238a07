"""HL3xx: is the fault on the load's path?"""

from __future__ import annotations

from typing import Any

from harness.lint import Severity
from tests.lint.conftest import Lint, codes, demo, experiment

FROM_FRONTEND = {"host": "productcatalog", "delay": {"fixedDelay": "100ms"}, "scope": {"sourceLabels": {"app": "frontend"}}}


def vs(name: str, hosts: list[str], namespace: str = "shop", gateways: list[str] | None = None,
       host: str = "productcatalog") -> dict[str, Any]:
    spec: dict[str, Any] = {"hosts": hosts, "http": [{"name": "main", "route": [{"destination": {"host": host}}]}]}
    if gateways is not None:
        spec["gateways"] = gateways
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": name, "namespace": namespace}, "spec": spec}


def test_the_demo_paths_are_clean(lint: Lint) -> None:
    assert codes(lint(experiment(faults=[FROM_FRONTEND]))) == []


def test_hl301_a_gateway_only_virtual_service_for_sidecar_callers(lint: Lint) -> None:
    policies = {"vs.yaml": vs("productcatalog", ["productcatalog"], gateways=["shop-gateway"])}
    (finding,) = lint(experiment(faults=[FROM_FRONTEND]), policies=policies).findings
    assert (finding.code, finding.field) == ("HL301", "faults[0].host")
    assert "not to mesh" in finding.message and "frontend-v1" in finding.message


def test_hl301_not_with_mesh_in_the_gateways(lint: Lint) -> None:
    policies = {"vs.yaml": vs("productcatalog", ["productcatalog"], gateways=["shop-gateway", "mesh"])}
    assert codes(lint(experiment(faults=[FROM_FRONTEND]), policies=policies)) == []


def storefront(served: list[str]) -> dict[str, Any]:
    gateway = {"apiVersion": "networking.istio.io/v1", "kind": "Gateway",
               "metadata": {"name": "shop-gateway", "namespace": "shop"},
               "spec": {"selector": {"istio": "ingressgateway"},
                        "servers": [{"port": {"number": 80, "name": "http", "protocol": "HTTP"}, "hosts": served}]}}
    return {"gw.yaml": gateway, "vs.yaml": vs("storefront", ["shop.example.com"], gateways=["shop-gateway"],
                                              host="frontend")}


def test_hl302_hosts_the_gateway_does_not_serve(lint: Lint) -> None:
    faults = [{"host": "shop.example.com", "abort": {"httpStatus": 503}}]
    result = lint(experiment(faults=faults), policies=storefront(["api.example.com"]))
    assert codes(result) == ["HL302"]
    assert "serves api.example.com, not shop.example.com" in result.findings[0].message


def test_hl302_not_when_the_gateway_serves_the_host(lint: Lint) -> None:
    faults = [{"host": "shop.example.com", "abort": {"httpStatus": 503}}]
    assert codes(lint(experiment(faults=faults), policies=storefront(["*.example.com"]))) == []


def test_hl303_another_namespaces_virtual_service_for_the_host(lint: Lint) -> None:
    other = vs("catalog-override", ["productcatalog.shop.svc.cluster.local"], namespace="team-b")
    result = lint(experiment(faults=[FROM_FRONTEND]), mesh=demo(objects=[other]))
    (finding,) = result.findings
    assert (finding.code, finding.severity) == ("HL303", Severity.WARNING)
    assert "VirtualService team-b/catalog-override" in finding.message


def test_hl303_two_in_the_namespace_make_the_run_refuse(lint: Lint) -> None:
    twin = vs("catalog-twin", ["productcatalog"])
    result = lint(experiment(faults=[FROM_FRONTEND]), mesh=demo(objects=[twin]))
    assert [(f.code, f.severity) for f in result.findings] == [("HL303", Severity.ERROR)]


def test_hl304_a_host_without_virtual_service(lint: Lint) -> None:
    faults = [{"host": "productcatalg", "abort": {"httpStatus": 503}}]  # a typo
    (finding,) = lint(experiment(faults=faults)).findings
    assert (finding.code, finding.severity) == ("HL304", Severity.ERROR)
    assert "no VirtualService in namespace shop routes productcatalg.shop.svc.cluster.local" in finding.message
    assert "no Service or ServiceEntry is named productcatalg.shop.svc.cluster.local either" in finding.message


def test_hl304_is_info_when_the_run_creates_one_for_a_service(lint: Lint) -> None:
    policies = {"vs.yaml": vs("productcatalog", ["elsewhere.example.com"])}  # the catalog's VS now routes another host
    faults = [{"host": "productcatalog", "abort": {"httpStatus": 503}, "createVirtualService": True}]
    assert codes(lint(experiment(faults=faults), policies=policies), Severity.INFO) == ["HL304"]
    typo = [{"host": "productcatalg", "abort": {"httpStatus": 503}, "createVirtualService": True}]
    assert codes(lint(experiment(faults=typo)), Severity.ERROR) == ["HL304"]  # creates one that routes to nothing


def test_hl305_a_caller_without_sidecar(lint: Lint) -> None:
    (finding,) = lint(experiment(faults=[FROM_FRONTEND]), mesh=demo(without_sidecar={"frontend"})).findings
    assert (finding.code, finding.field) == ("HL305", "faults[0].scope.sourceLabels")
    assert "runs an istio-proxy sidecar" in finding.message


def test_hl305_source_labels_that_match_no_pod(lint: Lint) -> None:
    fault = {**FROM_FRONTEND, "scope": {"sourceLabels": {"app": "front-end"}}}
    assert [(f.code, f.severity) for f in lint(experiment(faults=[fault])).findings] == [("HL305", Severity.WARNING)]


def sidecar(*hosts: str) -> dict[str, Any]:
    return {"apiVersion": "networking.istio.io/v1", "kind": "Sidecar", "metadata": {"name": "frontend", "namespace": "shop"},
            "spec": {"workloadSelector": {"labels": {"app": "frontend"}}, "egress": [{"hosts": list(hosts)}]}}


def test_hl306_a_sidecar_resource_that_hides_the_host(lint: Lint) -> None:
    mesh = demo(objects=[sidecar("./cart.shop.svc.cluster.local", "istio-system/*")])
    (finding,) = lint(experiment(faults=[FROM_FRONTEND]), mesh=mesh).findings
    assert finding.code == "HL306" and "Sidecar shop/frontend" in finding.message


def test_hl306_not_when_the_sidecar_lets_the_namespace_through(lint: Lint) -> None:
    assert codes(lint(experiment(faults=[FROM_FRONTEND]), mesh=demo(objects=[sidecar("./*")]))) == []
