"""Notifications and annotations: a run's events to JSON webhooks, Slack and Grafana, from background threads.

A receiver that fails or hangs never fails, blocks or changes a run: each has its own bounded queue
and thread, each request a 2 s timeout, the run waits at most 3 s at its end, and what did not arrive
becomes a note in the run's journal ("notification to webhook http://host:port failed: ...").
"""

from harness.notify._events import SCHEMA, Event, EventKind, RunInfo, VerdictLine
from harness.notify._grafana import annotation_body
from harness.notify._notifier import DRAIN_S, Notifier, open_notifier
from harness.notify._senders import TIMEOUT_S
from harness.notify._slack import slack_payload

__all__ = [
    "DRAIN_S", "SCHEMA", "TIMEOUT_S", "Event", "EventKind", "Notifier", "RunInfo", "VerdictLine", "annotation_body",
    "open_notifier", "slack_payload",
]
