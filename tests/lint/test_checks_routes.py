"""HL1xx: faults against their own route's timeout and retries; retry policies that cannot work."""

from __future__ import annotations

from typing import Any

from harness.lint import Severity
from tests.lint.conftest import Lint, codes, example, experiment, lint_example, located_text


def catalog_vs(**route: Any) -> dict[str, Any]:
    """productcatalog's VirtualService as a policy, with its one http route changed."""
    http = {"name": "productcatalog", "route": [
        {"destination": {"host": "productcatalog", "subset": "v1"}, "weight": 80},
        {"destination": {"host": "productcatalog", "subset": "v2"}, "weight": 20}], "timeout": "2s", **route}
    return {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
            "metadata": {"name": "productcatalog", "namespace": "shop"},
            "spec": {"hosts": ["productcatalog"], "http": [{k: v for k, v in http.items() if v is not None}]}}


NO_OUTLIER_DETECTION = {"apiVersion": "networking.istio.io/v1", "kind": "DestinationRule",
                        "metadata": {"name": "productcatalog", "namespace": "shop"},
                        "spec": {"host": "productcatalog", "subsets": [{"name": "v1", "labels": {"version": "v1"}},
                                                                       {"name": "v2", "labels": {"version": "v2"}}]}}
FLAKY_REPLICA = [{"service": "productcatalog", "version": "v1", "replica": 0, "errorRate": 1.0}]
NO_ERRORS = [{"name": "shoppers see no errors", "measure": "error_rate", "phase": "fault", "below": 0.01}]


def test_hl101_a_delay_on_the_route_whose_timeout_the_hypothesis_relies_on(lint: Lint) -> None:
    (finding,) = lint_example("03-same-route-timeout-FAILS.yaml").findings
    assert (finding.code, finding.severity) == ("HL101", Severity.ERROR)
    assert finding.field == "faults[0].delay"
    assert "2s timeout of the same route" in finding.message and "VirtualService shop/productcatalog" in finding.message
    assert "§A.7 point 1" in finding.rule.reference


def test_hl101_not_when_the_callers_timeout_cuts_the_delay(lint: Lint) -> None:
    # 02 puts the same delay behind recommendation, whose caller's 1 s timeout is what the hypothesis tests
    assert "HL101" not in codes(lint_example("02-timeout-protects-frontend.yaml"))


def test_hl101_not_when_too_few_requests_are_delayed_to_move_the_quantile(lint: Lint) -> None:
    doc = example("03-same-route-timeout-FAILS.yaml")
    doc["faults"][0]["delay"]["percentage"] = 1  # 1 % of calls cannot move a p95
    assert "HL101" not in codes(lint(doc))


ABORT_10 = [{"host": "productcatalog", "abort": {"httpStatus": 503, "percentage": 10},
             "scope": {"sourceLabels": {"app": "frontend"}}}]


def test_hl102_retries_on_the_aborted_route_expected_to_mask_the_aborts(lint: Lint) -> None:
    hypotheses = [{"name": "retries hide the aborts", "measure": "error_rate", "cohort": "tagged", "phase": "fault",
                   "below": 0.05}]
    result = lint(experiment(faults=ABORT_10, hypotheses=hypotheses))
    (finding,) = [f for f in result.findings if f.code == "HL102"]
    assert finding.field == "faults[0].abort" and finding.severity is Severity.ERROR
    assert "503" in finding.message and "2 retries on" in finding.message


def test_hl102_not_when_the_hypothesis_expects_the_aborts_to_show(lint: Lint) -> None:
    hypotheses = [{"name": "the aborts show", "measure": "error_rate", "cohort": "tagged", "phase": "fault",
                   "above": 0.05}]
    assert codes(lint(experiment(faults=ABORT_10, hypotheses=hypotheses))) == []
    assert codes(lint_example("01-run-scoped-abort.yaml")) == []


def test_hl102_retries_expected_from_injected_aborts_only(lint: Lint) -> None:
    hypotheses = [{"name": "the frontend retried", "measure": "retries", "source": "mesh", "service": "productcatalog",
                   "phase": "fault", "above": 0}]
    result = lint(experiment(target={"namespace": "shop", "scrapeInterval": "1s"}, faults=ABORT_10,
                             hypotheses=hypotheses))
    assert codes(result) == ["HL102"] and result.findings[0].field == "hypotheses[0].measure"
    # real failures are retried: the same hypothesis on 04 is fine
    assert "HL102" not in codes(lint_example("04-retries-mask-flaky-replica.yaml"))


def test_hl103_retries_off_while_the_hypothesis_needs_the_failures_masked(lint: Lint) -> None:
    (finding,) = lint_example("05-retries-off-FAILS.yaml").findings
    assert (finding.code, finding.field) == ("HL103", "hypotheses[0].below")
    assert "retries off" in finding.message and "no outlier detection" in finding.message
    assert finding.object_location is not None
    assert finding.object_location.path.name == "productcatalog-no-retries.yaml"
    assert finding.object_location.line == 13  # retries: {attempts: 0}


def test_hl103_also_when_a_retries_block_has_no_attempts(lint: Lint) -> None:
    # retry.ConvertPolicy: attempts 0 (unset) disables retries; only perTryTimeout/retryOn would be rejected with it
    policies = {"vs.yaml": catalog_vs(retries={"retryIgnorePreviousHosts": True}), "dr.yaml": NO_OUTLIER_DETECTION}
    assert codes(lint(experiment(failures=FLAKY_REPLICA, hypotheses=NO_ERRORS), policies=policies)) == ["HL103"]


def test_hl103_not_when_the_route_retries_5xx(lint: Lint) -> None:
    assert codes(lint_example("04-retries-mask-flaky-replica.yaml"), Severity.ERROR) == []


def test_hl104_retry_on_without_the_failures_status(lint: Lint) -> None:
    policies = {"vs.yaml": catalog_vs(retries={"attempts": 2, "retryOn": "connect-failure,refused-stream"}),
                "dr.yaml": NO_OUTLIER_DETECTION}
    result = lint(experiment(failures=FLAKY_REPLICA, hypotheses=NO_ERRORS), policies=policies)
    (finding,) = result.findings
    assert finding.code == "HL104" and "does not retry 503" in finding.message
    assert "add 503" in finding.suggested_fix


def test_hl104_istios_default_policy_does_not_retry_503(lint: Lint) -> None:
    policies = {"vs.yaml": catalog_vs(), "dr.yaml": NO_OUTLIER_DETECTION}  # no retries field: Istio's default
    (finding,) = lint(experiment(failures=FLAKY_REPLICA, hypotheses=NO_ERRORS), policies=policies).findings
    assert finding.code == "HL104" and "Istio's default retry policy" in finding.message


def test_hl104_not_when_retry_on_names_the_status(lint: Lint) -> None:
    policies = {"vs.yaml": catalog_vs(retries={"attempts": 2, "retryOn": "503"}), "dr.yaml": NO_OUTLIER_DETECTION}
    assert codes(lint(experiment(failures=FLAKY_REPLICA, hypotheses=NO_ERRORS), policies=policies)) == []


def test_hl105_per_try_timeout_not_below_the_route_timeout(lint: Lint) -> None:
    policies = {"vs.yaml": catalog_vs(retries={"attempts": 2, "perTryTimeout": "2s", "retryOn": "5xx"})}
    result = lint(experiment(failures=FLAKY_REPLICA), policies=policies)
    (finding,) = result.findings
    assert (finding.code, finding.severity) == ("HL105", Severity.WARNING)
    assert located_text(finding.object_location).strip().startswith("perTryTimeout: 2s")


def test_hl106_attempts_beyond_the_timeout_budget(lint: Lint) -> None:
    policies = {"vs.yaml": catalog_vs(retries={"attempts": 5, "perTryTimeout": "500ms", "retryOn": "5xx"})}
    (finding,) = lint(experiment(failures=FLAKY_REPLICA), policies=policies).findings
    assert finding.code == "HL106" and "6 tries of 0.5s" in finding.message and "holds 4" in finding.message


def test_hl105_hl106_not_for_the_demo_routes(lint: Lint) -> None:
    # productcatalog: 3 tries x 500 ms fit in 2 s
    assert codes(lint(experiment(failures=FLAKY_REPLICA))) == []
