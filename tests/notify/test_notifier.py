"""The Notifier against local HTTP receivers: order and fields, and receivers that are dead or hang change nothing."""

from __future__ import annotations

import time

import pytest

from harness.experiment import Notify
from harness.notify import DRAIN_S, TIMEOUT_S, Notifier, open_notifier
from harness.notify._channel import QUEUE_SIZE
from harness.notify._events import Event
from harness.notify._senders import Sender
from tests.notify.test_events import END, START, finished, run_info, verdicts
from tests.receiver import dead_url, receiver


def notifier(**config: object) -> Notifier:
    return open_notifier(Notify.model_validate(config), run_info())


def whole_run(notify: Notifier) -> float:
    """Every event of a run; returns how long emitting them took (the run's own delay)."""
    began = time.monotonic()
    notify.run_started()
    notify.fault_started(START, 0.21)
    notify.fault_ended(START, END)
    notify.verdicts(verdicts())
    notify.run_finished(finished())
    return time.monotonic() - began


def test_webhook_sees_every_event_in_order_with_the_run_fields_and_the_bearer_token(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOOK_TOKEN", "s3cret")
    with receiver() as hook:
        notify = notifier(webhooks=[{"url": hook.url + "/chaos", "tokenEnv": "HOOK_TOKEN"}])
        whole_run(notify)
        assert notify.close() == []
    assert [(r.method, r.path) for r in hook.got] == [("POST", "/chaos")] * 5
    assert [b["event"] for b in hook.bodies()] == ["run_started", "fault_started", "fault_ended", "verdicts",
                                                   "run_finished"]
    assert {r.headers["authorization"] for r in hook.got} == {"Bearer s3cret"}
    assert {r.headers["content-type"] for r in hook.got} == {"application/json"}
    ended, judged, last = hook.bodies()[2:]
    assert (ended["fault"]["start_ms"], ended["fault"]["end_ms"]) == (round(START * 1000), round(END * 1000))
    assert [v["name"] for v in judged["verdicts"]] == [v.name for v in verdicts()]
    assert (last["outcome"], last["run_id"], last["experiment"], last["owner"]) == (
        "FAIL", "ab12cd34", "checkout-timeout", "sre-payments")


def test_a_webhook_hears_only_the_events_it_chose() -> None:
    with receiver() as hook:
        notify = notifier(webhooks=[{"url": hook.url, "events": ["fault_started", "run_finished"]}])
        whole_run(notify)
        notify.close()
    assert [b["event"] for b in hook.bodies()] == ["fault_started", "run_finished"]


def test_slack_gets_one_verdict_first_message_at_the_end_by_default() -> None:
    with receiver() as slack:
        notify = notifier(slack=[{"url": slack.url + "/services/T0/B0/XXXX"}])
        whole_run(notify)
        assert notify.close() == []
    (message,) = slack.bodies()
    assert set(message) == {"text", "blocks"} and message["text"].startswith("FAIL checkout-timeout")


def test_grafana_opens_the_region_at_activation_and_closes_it_at_the_revert(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRAFANA_TOKEN", "glsa_x")
    with receiver() as grafana:
        notify = notifier(grafana=[{"url": grafana.url + "/grafana/", "tokenEnv": "GRAFANA_TOKEN", "tags": ["chaos"]}])
        whole_run(notify)
        assert notify.close() == []
    opened, closed = grafana.got
    assert (opened.method, opened.path) == ("POST", "/grafana/api/annotations")
    assert (closed.method, closed.path) == ("PATCH", "/grafana/api/annotations/1")  # the id Grafana answered
    assert opened.body["time"] == closed.body["time"] == round(START * 1000)
    assert closed.body["timeEnd"] == round(END * 1000) and "timeEnd" not in opened.body
    assert opened.headers["authorization"] == "Bearer glsa_x"


def test_grafana_posts_the_whole_region_when_the_opening_post_failed() -> None:
    with receiver("fail") as grafana:
        notify = notifier(grafana=[{"url": grafana.url}])
        whole_run(notify)
        notes = notify.close()
    assert [(r.method, r.path) for r in grafana.got] == [("POST", "/api/annotations")] * 2
    assert grafana.got[1].body["timeEnd"] == round(END * 1000)
    assert notes == [f"notification to grafana {grafana.url} failed: fault_started, fault_ended: "
                     "HTTP 500 Internal Server Error"]


def test_a_dead_receiver_delays_nothing_and_is_noted() -> None:
    url = dead_url()
    notify = notifier(webhooks=[{"url": url + "/hook"}], slack=[{"url": url + "/services/secret"}])
    assert whole_run(notify) < 0.1
    began = time.monotonic()
    notes = notify.close()
    assert time.monotonic() - began < 1
    assert notes[0].startswith(f"notification to webhook {url} failed: run_started, fault_started, fault_ended, "
                               "verdicts, run_finished: unreachable: ")
    assert notes[1].startswith(f"notification to slack {url} failed: run_finished: unreachable")
    assert "secret" not in " ".join(notes)  # a Slack URL's path is its secret: notes show scheme, host and port


def test_a_hanging_receiver_costs_the_run_at_most_the_drain_wait_and_is_noted() -> None:
    with receiver("hang") as hook, receiver() as healthy:
        notify = notifier(webhooks=[{"url": hook.url}, {"url": healthy.url}])
        assert whole_run(notify) < 0.1
        began = time.monotonic()
        notes = notify.close()
        waited = time.monotonic() - began
        assert waited < DRAIN_S + 0.5
        assert len(healthy.got) == 5  # one hanging receiver holds up no other
    (note,) = notes
    assert note.startswith(f"notification to webhook {hook.url} failed: run_started: no answer within "
                           f"{TIMEOUT_S:g} s; ")
    assert f": no answer yet when the run stopped waiting ({DRAIN_S:g} s at its end)" in note
    assert note.endswith(f"run_finished: not sent, the run waits at most {DRAIN_S:g} s at its end")


def test_a_full_queue_drops_events_instead_of_blocking() -> None:
    with receiver("hang") as hook:
        notify = notifier(webhooks=[{"url": hook.url}])
        began = time.monotonic()
        for _ in range(QUEUE_SIZE + 5):
            notify.run_started()
        assert time.monotonic() - began < 0.1
        (note,) = notify.close(wait_s=0.1)
    assert f"dropped, {QUEUE_SIZE} events were already waiting" in note


def test_unset_environment_variables_are_noted_and_a_receiver_without_its_url_is_skipped(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_SLACK_URL", raising=False)
    monkeypatch.delenv("NO_SUCH_TOKEN", raising=False)
    with receiver() as grafana:
        notify = notifier(slack=[{"urlEnv": "NO_SUCH_SLACK_URL"}],
                          grafana=[{"url": grafana.url, "tokenEnv": "NO_SUCH_TOKEN"}])
        whole_run(notify)
        notes = notify.close()
    assert notes == ["notification to slack skipped: the environment variable NO_SUCH_SLACK_URL (urlEnv) is not set",
                     "notification to grafana: the environment variable NO_SUCH_TOKEN (tokenEnv) is not set; sent "
                     "without a token"]
    assert len(grafana.got) == 2 and "authorization" not in grafana.got[0].headers


def test_a_bug_in_a_sender_is_a_note_not_a_crash() -> None:
    class Broken(Sender):
        def wants(self, event: Event) -> bool:
            return True

        def send(self, event: Event) -> None:
            raise ValueError("boom")

    notify = Notifier(run_info(), [Broken("broken")])
    whole_run(notify)
    (note,) = notify.close()
    assert note.startswith("notification to broken failed: run_started, fault_started") and "ValueError('boom')" in note


def test_no_receivers_no_threads_no_notes() -> None:
    notify = notifier()
    whole_run(notify)
    assert notify.close() == []
