"""HL2xx: outlier detection that cannot eject, cannot be reached, is fed by injected faults, or outlasts a phase."""

from __future__ import annotations

from typing import Any

from harness.lint import Severity
from tests.lint.conftest import EXAMPLES, Lint, codes, example, experiment, lint_example

NO_RETRIES = str(EXAMPLES / "policies" / "productcatalog-no-retries.yaml")


def catalog_dr(**outlier: Any) -> dict[str, Any]:
    """productcatalog's DestinationRule as a policy, with the outlier detection given."""
    return {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
            "metadata": {"name": "productcatalog", "namespace": "shop"},
            "spec": {"host": "productcatalog", "trafficPolicy": {"outlierDetection": outlier},
                     "subsets": [{"name": "v1", "labels": {"version": "v1"}}, {"name": "v2", "labels": {"version": "v2"}}]}}


def ejecting(lint: Lint, dr: dict[str, Any], **changes: Any) -> Any:
    """Example 06 (retries off, one of two v1 replicas failing) with its DestinationRule replaced."""
    doc = example("06-outlier-detection-ejects.yaml", target={"namespace": "shop", "scrapeInterval": "1s"}, **changes)
    doc.pop("policies")
    return lint(doc, policies={"no-retries.yaml": open(NO_RETRIES).read(), "dr.yaml": dr})


def test_example_06_is_clean(lint: Lint) -> None:
    # maxEjectionPercent 50 lets one of the two v1 endpoints go; 3 consecutive 5xx come within a second
    assert codes(lint_example("06-outlier-detection-ejects.yaml")) == ["HL502"]  # only the 15 s default-interval note
    assert codes(ejecting(lint, catalog_dr(consecutive5xxErrors=3, interval="1s", baseEjectionTime="15s",
                                           maxEjectionPercent=50))) == []


def test_hl201_without_max_ejection_percent_two_endpoints_never_eject(lint: Lint) -> None:
    result = ejecting(lint, catalog_dr(consecutive5xxErrors=3, interval="1s", baseEjectionTime="15s"))
    errors = [f for f in result.findings if f.code == "HL201"]
    assert len(errors) == 1 and errors[0].severity is Severity.ERROR  # a hypothesis expects ejections
    assert "productcatalog subset v1 (2 endpoints)" in errors[0].message
    assert "maxEjectionPercent 10%, Istio's default" in errors[0].message
    assert "maxEjectionPercent: 50" in errors[0].suggested_fix
    assert "HL103" in codes(result)  # and nothing else masks the failing replica


def test_hl201_is_a_warning_when_no_hypothesis_expects_ejections(lint: Lint) -> None:
    hypotheses = [{"name": "few errors", "measure": "error_rate", "phase": "fault", "above": 0.2}]
    result = ejecting(lint, catalog_dr(consecutive5xxErrors=3), hypotheses=hypotheses)
    assert [(f.code, f.severity) for f in result.findings] == [("HL201", Severity.WARNING)]


def test_hl202_consecutive_errors_the_load_cannot_reach(lint: Lint) -> None:
    result = ejecting(lint, catalog_dr(consecutive5xxErrors=1000, maxEjectionPercent=50))
    (finding,) = [f for f in result.findings if f.code == "HL202"]
    assert finding.severity is Severity.ERROR and "1000 consecutive errors are unlikely" in finding.message
    assert finding.object_location is not None and finding.object_location.path.name == "dr.yaml"


def test_hl202_not_without_a_known_rate(lint: Lint) -> None:
    result = ejecting(lint, catalog_dr(consecutive5xxErrors=1000, maxEjectionPercent=50),
                      load={"users": 20, "taggedShare": 0.5})
    assert "HL202" not in codes(result)


def test_hl203_ejections_expected_from_injected_aborts(lint: Lint) -> None:
    hypotheses = [{"name": "ejected", "measure": "ejections", "source": "mesh", "service": "productcatalog",
                   "phase": "fault", "above": 0}]
    faults = [{"host": "productcatalog", "abort": {"httpStatus": 503}}]
    result = lint(experiment(target={"namespace": "shop", "scrapeInterval": "1s"}, faults=faults,
                             hypotheses=hypotheses))
    assert codes(result) == ["HL203"] and result.findings[0].field == "hypotheses[0].measure"


def test_hl203_not_with_a_real_failure(lint: Lint) -> None:
    assert "HL203" not in codes(lint_example("06-outlier-detection-ejects.yaml"))


RECOVERED = [{"name": "back to normal", "measure": "error_rate", "phase": "recovery", "below": 0.01}]


def test_hl204_an_ejection_that_outlasts_the_recovery_phase(lint: Lint) -> None:
    result = ejecting(lint, catalog_dr(consecutive5xxErrors=3, baseEjectionTime="15s", maxEjectionPercent=50),
                      hypotheses=RECOVERED)
    (finding,) = result.findings
    assert finding.code == "HL204" and "stays out for 15s" in finding.message
    assert finding.field == "hypotheses[0].phase"


def test_hl204_not_when_the_host_is_back_within_the_recovery_phase(lint: Lint) -> None:
    result = ejecting(lint, catalog_dr(consecutive5xxErrors=3, baseEjectionTime="2s", interval="1s",
                                       maxEjectionPercent=50), hypotheses=RECOVERED)
    assert codes(result) == []
