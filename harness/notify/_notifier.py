"""The runner's one handle on notifications: called at each phase transition, never blocking, never raising."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.experiment import Notify
from harness.notify import _events as events
from harness.notify._channel import Channel
from harness.notify._events import Event, RunInfo
from harness.notify._grafana import GrafanaSender
from harness.notify._senders import Sender, from_environment
from harness.notify._slack import SlackSender
from harness.notify._webhook import WebhookSender

if TYPE_CHECKING:
    from harness.report import RunResult
    from harness.verdict import Verdict

log = logging.getLogger(__name__)
DRAIN_S = 3.0  # how long a run waits at its end for its receivers (each request has 2 s)


class Notifier:
    """Events for one run's receivers, each receiver with its own queue and thread (see Channel)."""

    def __init__(self, run: RunInfo, senders: list[Sender], *, setup_notes: list[str] | None = None) -> None:
        self.run = run
        self._channels = [Channel(sender) for sender in senders]
        self._notes = list(setup_notes or [])

    def run_started(self) -> None:
        self._emit(lambda: events.run_started(self.run, time.time()))

    def fault_started(self, start: float, activation_latency_s: float | None) -> None:
        self._emit(lambda: events.fault_started(self.run, start, activation_latency_s))

    def fault_ended(self, start: float, end: float) -> None:
        self._emit(lambda: events.fault_ended(self.run, start, end))

    def verdicts(self, verdicts: list[Verdict]) -> None:
        self._emit(lambda: events.verdicts_judged(self.run, verdicts, time.time()))

    def run_finished(self, result: RunResult) -> None:
        self._emit(lambda: events.run_finished(self.run, result, time.time()))

    def close(self, *, wait_s: float = DRAIN_S) -> list[str]:
        """Wait at most ``wait_s`` for every queue to drain; return the notes for the run (what failed, and why)."""
        deadline = time.monotonic() + wait_s
        for channel in self._channels:
            channel.close(deadline)
        return self._notes + [note for channel in self._channels for note in channel.problems(waited_s=wait_s)]

    def _emit(self, build: Callable[[], Event]) -> None:
        try:
            event = build()
        except Exception as exc:  # a notification must never be what breaks a run
            log.exception("building a notification")
            self._notes.append(f"notifications: an event could not be built: {exc!r}")
            return
        for channel in self._channels:
            channel.put(event)


def open_notifier(notify: Notify, run: RunInfo) -> Notifier:
    """A Notifier for every receiver in ``notify``; one whose URL variable is unset is skipped, with a note."""
    senders: list[Sender] = []
    notes: list[str] = []

    def url_of(kind: str, url: str | None, url_env: str | None) -> str | None:
        found = url or from_environment(url_env)
        if found is None:
            notes.append(f"notification to {kind} skipped: the environment variable {url_env} (urlEnv) is not set")
        return found

    def token_of(kind: str, token_env: str | None) -> str | None:
        token = from_environment(token_env)
        if token_env and token is None:
            notes.append(f"notification to {kind}: the environment variable {token_env} (tokenEnv) is not set; "
                         "sent without a token")
        return token

    for hook in notify.webhooks:
        if url := url_of("webhook", hook.url, hook.url_env):
            senders.append(WebhookSender(url, token=token_of("webhook", hook.token_env), events=hook.events))
    for slack in notify.slack:
        if url := url_of("slack", slack.url, slack.url_env):
            senders.append(SlackSender(url, events=slack.events))
    for grafana in notify.grafana:
        if url := url_of("grafana", grafana.url, grafana.url_env):
            senders.append(GrafanaSender(url, token=token_of("grafana", grafana.token_env), tags=grafana.tags,
                                         dashboard_uid=grafana.dashboard_uid, panel_id=grafana.panel_id))
    return Notifier(run, senders, setup_notes=notes)
