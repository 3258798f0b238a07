"""HL6xx: ambient mode and Gateway API routes, where VirtualService faults do not apply."""

from __future__ import annotations

from typing import Any

from tests.lint.conftest import Lint, codes, demo, experiment

AMBIENT = {"istio.io/dataplane-mode": "ambient"}
FROM_FRONTEND = {"host": "productcatalog", "abort": {"httpStatus": 503}, "scope": {"sourceLabels": {"app": "frontend"}}}
EVERYONE = {"host": "productcatalog", "abort": {"httpStatus": 503}, "scope": {"traffic": "all"}}


def test_hl601_ambient_namespace_without_waypoint(lint: Lint) -> None:
    result = lint(experiment(faults=[EVERYONE]), mesh=demo(namespace_labels=AMBIENT, without_sidecar={"frontend"}))
    assert codes(result) == ["HL601"] and "ambient" in result.findings[0].message  # no sidecar is no HL305 there


def test_hl601_not_with_a_waypoint(lint: Lint) -> None:
    mesh = demo(namespace_labels={**AMBIENT, "istio.io/use-waypoint": "waypoint"})
    assert codes(lint(experiment(faults=[EVERYONE]), mesh=mesh)) == []
    per_service = demo(namespace_labels=AMBIENT, service_labels={"productcatalog": {"istio.io/use-waypoint": "w"}})
    assert codes(lint(experiment(faults=[EVERYONE]), mesh=per_service)) == []


def test_hl602_source_labels_ignored_by_the_waypoint(lint: Lint) -> None:
    mesh = demo(namespace_labels={**AMBIENT, "istio.io/use-waypoint": "waypoint"})
    (finding,) = lint(experiment(faults=[FROM_FRONTEND]), mesh=mesh).findings
    assert (finding.code, finding.field) == ("HL602", "faults[0].scope.sourceLabels")


def test_hl602_not_in_sidecar_mode(lint: Lint) -> None:
    assert codes(lint(experiment(faults=[FROM_FRONTEND]))) == []


def http_route(backend: str) -> dict[str, Any]:
    return {"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
            "metadata": {"name": f"{backend}-route", "namespace": "shop"},
            "spec": {"parentRefs": [{"group": "", "kind": "Service", "name": backend}],
                     "rules": [{"backendRefs": [{"name": backend, "port": 8080}]}]}}


def test_hl603_an_httproute_for_the_faults_host(lint: Lint) -> None:
    result = lint(experiment(faults=[FROM_FRONTEND]), mesh=demo(http_routes=[http_route("productcatalog")]))
    assert codes(result) == ["HL603"] and "HTTPRoute shop/productcatalog-route" in result.findings[0].message


def test_hl603_not_for_other_hosts(lint: Lint) -> None:
    assert codes(lint(experiment(faults=[FROM_FRONTEND]), mesh=demo(http_routes=[http_route("cart")]))) == []
