"""Golden tests of the fault merge: what changes, what must stay byte-identical."""

from __future__ import annotations

import copy
import json

import yaml

from harness.experiment import Fault
from harness.istio._merge import has_fault, merge_fault, new_virtual_service_spec, strip_fault

SPEC = yaml.safe_load("""
hosts: [reviews]
gateways: [shop/gw, mesh]
http:
  - name: api
    match: [{uri: {prefix: /api}, gateways: [mesh]}, {headers: {x-beta: {exact: "1"}}}]
    route: [{destination: {host: reviews, subset: v2}}]
    retries: {attempts: 3, retryOn: 5xx}
  - name: main
    route: [{destination: {host: reviews, subset: v1}, weight: 90}, {destination: {host: reviews, subset: v2}, weight: 10}]
    timeout: 2s
""")


def fault(**extra: object) -> Fault:
    return Fault.model_validate({"host": "reviews", "abort": {"httpStatus": 503, "percentage": 50}, **extra})


def test_copies_sit_right_before_their_originals_and_originals_are_untouched() -> None:
    original = copy.deepcopy(SPEC)
    merged = merge_fault(SPEC, fault(), "r1")
    assert original == SPEC  # the input is not mutated
    assert [r["name"] for r in merged["http"]] == ["chaos-r1-api", "api", "chaos-r1-main", "main"]
    assert json.dumps(merged["http"][1], sort_keys=True) == json.dumps(SPEC["http"][0], sort_keys=True)
    assert json.dumps(merged["http"][3], sort_keys=True) == json.dumps(SPEC["http"][1], sort_keys=True)
    assert merged["hosts"] == SPEC["hosts"] and merged["gateways"] == SPEC["gateways"]


def test_run_scope_adds_the_run_header_to_every_match_and_keeps_match_gateways() -> None:
    chaos = merge_fault(SPEC, fault(), "r1")["http"][0]
    assert chaos["match"] == [
        {"uri": {"prefix": "/api"}, "gateways": ["mesh"], "headers": {"x-chaos-run": {"exact": "r1"}}},
        {"headers": {"x-beta": {"exact": "1"}, "x-chaos-run": {"exact": "r1"}}},
    ]
    assert chaos["fault"] == {"abort": {"httpStatus": 503, "percentage": {"value": 50.0}}}
    assert chaos["retries"] == SPEC["http"][0]["retries"]  # the copy routes exactly like the original


def test_route_without_match_gets_the_scope_as_its_only_match() -> None:
    chaos = merge_fault(SPEC, fault(scope={"sourceLabels": {"app": "web"}, "headers": {"x-user": {"prefix": "t"}}}),
                        "r1")["http"][2]
    assert chaos["match"] == [{"headers": {"x-user": {"prefix": "t"}, "x-chaos-run": {"exact": "r1"}},
                               "sourceLabels": {"app": "web"}}]


def test_all_traffic_scope_adds_no_header() -> None:
    chaos = merge_fault(SPEC, fault(scope={"traffic": "all"}), "r1")["http"][2]
    assert "match" not in chaos


def test_named_routes_only() -> None:
    merged = merge_fault(SPEC, fault(routes=["main"]), "r1")
    assert [r["name"] for r in merged["http"]] == ["api", "chaos-r1-main", "main"]


def test_strip_gives_back_the_original_and_leaves_other_runs_alone() -> None:
    both = merge_fault(merge_fault(SPEC, fault(routes=["api"]), "r1"), fault(routes=["main"]), "r2")
    assert has_fault(both, "r1") and has_fault(both, "r2")
    assert strip_fault(strip_fault(both, "r1"), "r2") == SPEC
    assert [r["name"] for r in strip_fault(both, "r1")["http"]] == ["api", "chaos-r2-main", "main"]


def test_new_virtual_service_routes_to_the_host() -> None:
    spec = new_virtual_service_spec("cart", Fault.model_validate({"host": "cart", "delay": {"fixedDelay": "1s"}}),
                                    "r1")
    assert spec["hosts"] == ["cart"]
    assert [r["name"] for r in spec["http"]] == ["chaos-r1-default", "default"]
    assert spec["http"][0]["fault"] == {"delay": {"fixedDelay": "1s", "percentage": {"value": 100.0}}}


def test_routes_selected_by_match() -> None:
    merged = merge_fault(SPEC, fault(routeMatch={"uri": {"prefix": "/api"}}), "r1")
    assert [r["name"] for r in merged["http"]] == ["chaos-r1-api", "api", "main"]


def test_a_route_match_that_selects_nothing_is_an_error() -> None:
    import pytest

    from harness.errors import ExperimentError

    with pytest.raises(ExperimentError, match="no http route matches routeMatch"):
        merge_fault(SPEC, fault(routeMatch={"uri": {"exact": "/nope"}}), "r1")
