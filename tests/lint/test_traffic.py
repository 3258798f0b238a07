"""The load's call chains: the sandbox topology's, or an assumed one outside it."""

from __future__ import annotations

import re
from typing import Any

import yaml

from harness.experiment import Experiment, LoadedExperiment, load_experiment_text
from harness.lint._traffic import SHOP_REQUESTS, request_mix
from harness.lint._view import build_view
from tests.lint.conftest import ROOT, demo, experiment


def test_the_shop_mix_is_the_shop_profiles_task_weights() -> None:
    source = (ROOT / "loadprofiles" / "shop.py").read_text()
    weights = [float(w) for w in re.findall(r"@task\((\d+)\)", source)]
    paths = re.findall(r'self\.call\(f?"([^"{]+)', source)  # "/", "/product/" (+ an id), "/cart"
    assert [w for _, w in SHOP_REQUESTS] == weights
    assert [p.rstrip("1") for p, _ in SHOP_REQUESTS] == paths


def test_generic_requests_are_the_mix() -> None:
    exp = Experiment.model_validate(experiment(load={"profile": "generic", "requests": [
        {"path": "/a", "weight": 3}, {"path": "/b"}]}, failures=[{"service": "cart", "latencyMs": 1}]))
    assert request_mix(exp) == (("/a", 3.0), ("/b", 1.0))
    custom = Experiment.model_validate(experiment(load={"locustfile": "mine.py"},
                                                  failures=[{"service": "cart", "latencyMs": 1}]))
    assert request_mix(custom) is None


def loaded(doc: dict[str, Any]) -> LoadedExperiment:
    (item,) = load_experiment_text(yaml.safe_dump(doc))
    return item


def test_topology_chains_follow_the_demo_shop() -> None:
    view = build_view(loaded(experiment(failures=[{"service": "cart", "latencyMs": 1}])), demo().live, [],
                      topology=demo().topology)
    to_catalog = view.chains_to("productcatalog")
    callers = sorted({(c.last.caller.name, len(c.hops)) for c in to_catalog})
    assert callers == [("frontend-v1", 2), ("recommendation-v1", 3)]
    direct = sum(c.share for c in to_catalog if len(c.hops) == 2)
    assert abs(direct - 8 / 9) < 1e-9  # home and product pages call the catalog; the cart page does not
    assert {c.hops[0].caller.gateways for c in view.chains} == {frozenset({"shop/shop-gateway"})}


def test_outside_the_sandbox_the_call_graph_is_assumed_and_said() -> None:
    doc = experiment(faults=[{"host": "productcatalog", "delay": {"fixedDelay": "1s"},
                              "scope": {"sourceLabels": {"app": "recommendation"}}}])
    view = build_view(loaded(doc), demo().live, [], topology=None)
    found = view.chains_to("productcatalog")
    assert sorted(c.request for c in found) == ["/", "/cart", "/product/1"]  # every request, by assumption
    for chain in found:
        assert [h.service for h in chain.hops] == ["frontend", "recommendation", "productcatalog"]
        assert chain.last.caller.labels == {"app": "recommendation"}
    assert any("call graph is not known" in note for note in view.notes)
