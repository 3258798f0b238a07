"""The events' JSON, Slack's payload and Grafana's annotation bodies, built from synthetic runs."""

from __future__ import annotations

from pathlib import Path

from harness.experiment import load_experiment_text
from harness.notify import SCHEMA, EventKind, RunInfo, annotation_body, slack_payload
from harness.notify import _events as events
from harness.report import RunResult, RunStatus
from harness.verdict import Outcome, Verdict

EXPERIMENT = """
apiVersion: harness/v1
kind: Experiment
metadata: {name: checkout-timeout, owner: sre-payments}
target: {namespace: shop}
faults:
  - {host: productcatalog, delay: {fixedDelay: 2s, percentage: 50}, abort: {httpStatus: 503}}
failures: [{service: cart, version: v1, replica: 0, errorRate: 0.5}]
"""
START, END = 1_764_900_000.25, 1_764_900_006.5


def run_info() -> RunInfo:
    (loaded,) = load_experiment_text(EXPERIMENT)
    return RunInfo.of(loaded.experiment, "ab12cd34", Path("reports/20261205-013000-checkout-timeout"))


def verdicts() -> list[Verdict]:
    return [Verdict("pages load", Outcome.PASS, "0.4% errors (interval 0.1-1.2%) below 2%", measure="error_rate",
                    phase="fault", value=0.004, bound="below 0.02"),
            Verdict("p95 <b>bounded</b> & fast", Outcome.FAIL, "p95 2,013 ms above 1500 " + "x" * 400,
                    measure="latency_p95", phase="fault", value=2013.0, bound="below 1500"),
            Verdict("nan value", Outcome.INCONCLUSIVE, "no data", value=float("nan"))]


def finished(status: RunStatus = RunStatus.COMPLETED, error: str | None = None) -> RunResult:
    result = RunResult("checkout-timeout", "ab12cd34", "exp.yaml", {}, status=status, fault_active=(START, END),
                       error=error)
    result.verdicts = verdicts()
    return result


def test_every_event_carries_the_run_and_says_what_it_is() -> None:
    run = run_info()
    for event in (events.run_started(run, START - 5), events.fault_started(run, START, 0.21),
                  events.fault_ended(run, START, END), events.verdicts_judged(run, verdicts(), END + 4),
                  events.run_finished(run, finished(), END + 5)):
        body = event.to_json()
        assert body["schema"] == SCHEMA and body["event"] == event.kind.value
        assert (body["run_id"], body["experiment"], body["owner"], body["namespace"]) == (
            "ab12cd34", "checkout-timeout", "sre-payments", "shop")
        assert body["report"] == "reports/20261205-013000-checkout-timeout"
        assert body["time"].endswith("Z")


def test_fault_events_carry_the_window_in_milliseconds_and_what_was_injected() -> None:
    run = run_info()
    started = events.fault_started(run, START, 0.21).to_json()["fault"]
    ended = events.fault_ended(run, START, END).to_json()["fault"]
    assert started["start_ms"] == 1_764_900_000_250 and started["end_ms"] is None
    assert started["activation_latency_s"] == 0.21
    assert (ended["start_ms"], ended["end_ms"]) == (1_764_900_000_250, 1_764_900_006_500)
    assert ended["start"] == "2025-12-05T02:00:00.250Z"
    assert started["faults"] == ["delay 2s (50%) + abort 503 (100%) on productcatalog",
                                 "real failure of cart v1 replica 0: 50% errors"]


def test_run_finished_has_the_outcome_status_and_every_verdict() -> None:
    body = events.run_finished(run_info(), finished(RunStatus.ABORTED, "guardrail"), END + 5).to_json()
    assert (body["outcome"], body["status"], body["error"]) == ("FAIL", "aborted", "guardrail")
    assert [v["outcome"] for v in body["verdicts"]] == ["PASS", "FAIL", "INCONCLUSIVE"]
    assert body["verdicts"][0] == {"name": "pages load", "outcome": "PASS", "measure": "error_rate", "phase": "fault",
                                   "value": 0.004, "bound": "below 0.02",
                                   "reason": "0.4% errors (interval 0.1-1.2%) below 2%"}
    assert body["verdicts"][2]["value"] is None  # NaN is not JSON


def test_slack_message_is_short_and_verdict_first() -> None:
    payload = slack_payload(events.run_finished(run_info(), finished(), END + 5))
    assert set(payload) == {"text", "blocks"}
    assert payload["text"] == "FAIL checkout-timeout (run ab12cd34): 1 PASS, 1 FAIL, 1 INCONCLUSIVE"
    head, lines, context = payload["blocks"]
    assert head["type"] == "section" and head["text"]["text"].startswith("*FAIL checkout-timeout")
    first = lines["text"]["text"].splitlines()[0]
    assert first.startswith(":x: *p95 &lt;b&gt;bounded&lt;/b&gt; &amp; fast* FAIL")  # failures first, escaped
    assert len(first) < 250  # long reasons are cut: the report has them
    assert context["type"] == "context" and "reports/20261205-013000-checkout-timeout" in context["elements"][0]["text"]


def test_slack_says_how_an_unfinished_run_ended_and_its_error() -> None:
    payload = slack_payload(events.run_finished(run_info(), finished(RunStatus.ERROR, "lock held by run 99"), END))
    assert payload["text"].endswith(", run error")
    assert any("lock held by run 99" in b.get("text", {}).get("text", "") for b in payload["blocks"])


def test_slack_fault_messages_name_the_fault() -> None:
    started = slack_payload(events.fault_started(run_info(), START, 0.21))
    ended = slack_payload(events.fault_ended(run_info(), START, END))
    assert started["text"] == "fault active after 210 ms: checkout-timeout (run ab12cd34)"
    assert "abort 503" in started["blocks"][-1]["elements"][0]["text"]
    assert ended["text"] == "fault reverted after 6.2 s: checkout-timeout (run ab12cd34)"


def test_grafana_annotation_is_the_fault_window_in_milliseconds() -> None:
    opened = annotation_body(events.fault_started(run_info(), START, 0.21), tags=["chaos"], dashboard_uid="shop",
                             panel_id=4)
    closed = annotation_body(events.fault_ended(run_info(), START, END), tags=["chaos", "gameday"])
    assert opened == {"time": 1_764_900_000_250, "tags": ["chaos", "checkout-timeout", "run:ab12cd34"],
                      "text": opened["text"], "dashboardUID": "shop", "panelId": 4}
    assert "timeEnd" not in opened and "active 210 ms after the write" in opened["text"]
    assert (closed["time"], closed["timeEnd"]) == (1_764_900_000_250, 1_764_900_006_500)
    assert closed["tags"] == ["chaos", "gameday", "checkout-timeout", "run:ab12cd34"]
    assert "reverted after 6.2 s" in closed["text"] and "abort 503" in closed["text"]


def test_event_kinds_are_the_documented_names() -> None:
    from harness.experiment import EVENT_NAMES

    assert [k.value for k in EventKind] == list(EVENT_NAMES)
