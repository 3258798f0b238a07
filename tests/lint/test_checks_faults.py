"""HL4xx: fault percentages as Istio writes them (§A.5)."""

from __future__ import annotations

from typing import Any

from harness.lint import Severity
from tests.lint.conftest import Lint, codes, experiment, located_text

FAILURE = [{"service": "cart", "latencyMs": 100}]


def faulty_cart(fault: dict[str, Any]) -> dict[str, Any]:
    """A policy VirtualService for cart that carries its own fault."""
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "cart", "namespace": "shop"},
            "spec": {"hosts": ["cart"], "http": [{"name": "cart", "route": [{"destination": {"host": "cart"}}],
                                                  "fault": fault}]}}


def test_hl401_a_policy_abort_without_percentage_never_fires(lint: Lint) -> None:
    result = lint(experiment(failures=FAILURE), policies={"cart.yaml": faulty_cart({"abort": {"httpStatus": 503}})})
    (finding,) = result.findings
    assert (finding.code, finding.severity, finding.field) == ("HL401", Severity.ERROR, "policies[0]")
    assert located_text(finding.object_location).strip() == "abort:"


def test_hl401_not_for_the_deprecated_percent_or_a_percentage(lint: Lint) -> None:
    fault = {"delay": {"fixedDelay": "1s", "percent": 50}, "abort": {"httpStatus": 503, "percentage": {"value": 5}}}
    assert codes(lint(experiment(failures=FAILURE), policies={"cart.yaml": faulty_cart(fault)})) == []


def test_hl402_a_percentage_istio_truncates(lint: Lint) -> None:
    faults = [{"host": "cart", "abort": {"httpStatus": 503, "percentage": 0.0003}}]
    (finding,) = lint(experiment(faults=faults)).findings
    assert (finding.code, finding.field) == ("HL402", "faults[0].abort.percentage")
    assert "becomes 2 per million" in finding.message


def test_hl402_in_a_policy_fault(lint: Lint) -> None:
    fault = {"abort": {"httpStatus": 503, "percentage": {"value": 0.0012}}}
    result = lint(experiment(failures=FAILURE), policies={"cart.yaml": faulty_cart(fault)})
    assert codes(result) == ["HL402"] and "becomes 11 per million" in result.findings[0].message


def test_hl402_not_for_percentages_that_survive(lint: Lint) -> None:
    faults = [{"host": "cart", "abort": {"httpStatus": 503, "percentage": p}} for p in (0.0005, 0.1, 12.5, 33.3333)]
    assert codes(lint(experiment(faults=faults))) == []
