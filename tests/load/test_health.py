"""The load-health rules on synthetic samples: each rule fires with its numbers, a healthy run holds."""

from __future__ import annotations

import time
from typing import Any

import pandas as pd
import pytest

from harness.experiment import Hypothesis, Load
from harness.load._health import check_load_health, cohorts_used
from harness.load._status import LoadStatus

PHASES = {"baseline": (1000.0, 1004.0), "fault": (1005.0, 1011.0), "recovery": (1011.0, 1014.0)}
LOAD = Load(users=8, rate=80, tagged_share=0.5)


def steady(start: float, end: float, per_s: float, *, outcome: str = "ok", latency_ms: float = 5.0,
           cohorts: tuple[str, ...] = ("tagged", "control")) -> list[dict[str, Any]]:
    """Requests evenly spaced at ``per_s``, cohorts taking turns."""
    count = round((end - start) * per_s)
    return [{"t": start + i / per_s, "cohort": cohorts[i % len(cohorts)], "name": "home", "status": 200,
             "latency_ms": latency_ms, "outcome": outcome} for i in range(count)]


def frame(*parts: list[dict[str, Any]]) -> pd.DataFrame:
    rows = [row for part in parts for row in part]
    return pd.DataFrame(rows, columns=["t", "cohort", "name", "status", "latency_ms", "outcome"])


def healthy() -> list[list[dict[str, Any]]]:
    return [steady(*span, 80) for span in PHASES.values()]


def check(samples: pd.DataFrame, load: Load = LOAD, *, status: LoadStatus | None = None,
          used: set[tuple[str, str]] | None = None) -> Any:
    return check_load_health(samples, PHASES, load, status=status, used=used or {("tagged", "fault")})


def test_a_healthy_run_holds_and_reports_configured_against_achieved() -> None:
    health = check(frame(*healthy()))
    assert health.held and health.reasons == ()
    summary = health.summary()["phases"]
    assert summary["fault"] == {"seconds": 6.0, "requests": 480, "achieved_per_s": 80.0, "configured_per_s": 80,
                                "connection_errors": 0}
    assert health.line() == "load held: baseline 80.0, fault 80.0, recovery 80.0 req/s (configured 80)"


def test_an_empty_frame_does_not_hold() -> None:
    health = check(frame())
    assert not health.held
    assert health.reasons == ("no requests were recorded: the load generator sent nothing",)


def test_a_phase_below_90_percent_of_the_rate_does_not_hold() -> None:
    baseline, _, recovery = healthy()
    health = check(frame(baseline, steady(*PHASES["fault"], 40), recovery))
    assert health.reasons == ("fault phase reached 40.0 req/s of the configured 80 (50%)",)
    assert "LOAD DID NOT HOLD" in health.line() and "40.0 req/s" in health.line()


def test_91_percent_of_the_rate_holds() -> None:
    assert check(frame(*[steady(*span, 73) for span in PHASES.values()])).held


def test_slow_answers_point_at_too_few_users() -> None:
    baseline, _, recovery = healthy()
    health = check(frame(baseline, steady(*PHASES["fault"], 20, latency_ms=400), recovery))
    assert health.reasons == ("fault phase reached 20.0 req/s of the configured 80 (25%); 120 answers took longer "
                              "than the 100 ms each user has per request (8 users for 80 req/s): raise load.users",)


@pytest.mark.parametrize("load", [
    Load(users=8, rate=None), Load.model_validate({"users": 8, "rate": 80, "shape": {
        "kind": "steps", "steps": [{"users": 8, "duration": "5s"}, {"users": 2, "duration": "10s"}]}})])
def test_without_a_fixed_rate_only_an_empty_phase_counts(load: Load) -> None:
    baseline, _, _ = healthy()
    health = check(frame(baseline, steady(*PHASES["fault"], 20)), load)
    assert health.reasons == ("no requests in the recovery phase",)
    assert health.summary()["phases"]["fault"]["configured_per_s"] is None


def status(*workers: tuple[float, int], expected: int = 2) -> LoadStatus:
    return LoadStatus("running", 4, expected, workers, updated_at=workers[-1][0])


def test_workers_lost_mid_fault_do_not_hold_with_when_and_how_many() -> None:
    lost = status((990.0, 0), (991.0, 2), (1007.2, 0))  # 0 -> 2 is the workers connecting, not a loss
    health = check(frame(*healthy()), status=lost)
    at = time.strftime("%H:%M:%S", time.gmtime(1007.2))
    assert health.reasons == (f"2 of 2 Locust workers lost at {at} UTC (fault phase, 2.2 s in)",)


def test_losses_in_one_phase_are_added_up_and_those_after_the_run_ignored() -> None:
    lost = status((990.0, 3), (1012.0, 2), (1013.0, 1), (1020.0, 0), expected=3)
    (reason,) = check(frame(*healthy()), status=lost).reasons
    assert reason.startswith("2 of 3 Locust workers lost at ") and "(recovery phase, 1.0 s in" in reason


def test_a_steady_worker_count_holds() -> None:
    assert check(frame(*healthy()), status=status((990.0, 2))).held


def test_a_cohort_with_too_few_requests_in_a_judged_phase_does_not_hold() -> None:
    baseline, _, recovery = healthy()
    fault = steady(*PHASES["fault"], 80, cohorts=("control",)) + steady(*PHASES["fault"], 1.5, cohorts=("tagged",))
    load = Load(users=2, rate=80, workers=2, tagged_share=0.5)
    health = check(frame(baseline, fault, recovery), load)
    assert health.reasons == ("tagged cohort had 9 requests in the fault phase (at least 20 needed; taggedShare 0.5 "
                              "of 2 users on 2 workers, 1 user per worker?)",)


def test_the_all_cohort_counts_every_request_and_unused_cohorts_do_not_matter() -> None:
    baseline, _, recovery = healthy()
    fault = steady(*PHASES["fault"], 80, cohorts=("control",))
    assert check(frame(baseline, fault, recovery), used={("all", "fault"), ("control", "fault")}).held
    (reason,) = check(frame(baseline, fault, recovery), used={("tagged", "fault")}).reasons
    assert reason.startswith("tagged cohort had 0 requests in the fault phase (at least 20 needed; taggedShare 0.5 of "
                             "8 users)")


def test_connection_errors_above_1_percent_do_not_hold() -> None:
    baseline, _, recovery = healthy()
    fault = steady(1005.0, 1011.0, 78) + steady(1005.0, 1011.0, 2, outcome="connection_error")
    health = check(frame(baseline, fault, recovery))
    assert health.reasons == ("12 of 480 requests in the fault phase failed to connect to the gateway "
                              "(connection_error)",)
    assert health.summary()["phases"]["fault"]["connection_errors"] == 12


def test_one_percent_of_connection_errors_still_holds() -> None:
    baseline, _, recovery = healthy()
    fault = steady(1005.0, 1011.0, 99) + steady(1005.0, 1011.0, 1, outcome="connection_error")  # 6 of 600
    assert check(frame(baseline, fault, recovery)).held


def test_every_broken_rule_is_reported() -> None:
    baseline, _, _ = healthy()
    health = check(frame(baseline, steady(1005.0, 1008.0, 80)), status=status((990.0, 2), (1008.5, 0)),
                   used={("tagged", "fault"), ("tagged", "recovery")})
    assert [r.split(" ")[0:2] for r in health.reasons] == [["fault", "phase"], ["recovery", "phase"], ["2", "of"],
                                                           ["tagged", "cohort"]]


def test_cohorts_used_follow_client_hypotheses_and_their_comparisons() -> None:
    hypotheses = [
        Hypothesis(name="a", measure="error_rate", cohort="tagged", phase="fault", below=0.1),
        Hypothesis(name="b", measure="latency_p99", cohort="tagged", phase="fault", versus="baseline", below=100),
        Hypothesis(name="c", measure="error_rate", cohort="tagged", phase="recovery", versus="control", below=0.1),
        Hypothesis(name="d", measure="error_rate", source="mesh", service="cart", phase="fault", below=0.1),
    ]
    assert cohorts_used(hypotheses) == {("tagged", "fault"), ("tagged", "baseline"), ("tagged", "recovery"),
                                        ("control", "recovery")}
