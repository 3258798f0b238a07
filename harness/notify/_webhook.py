"""The generic receiver: every chosen event as the JSON of ``Event.to_json`` (the schema in the README)."""

from __future__ import annotations

from collections.abc import Iterable

from harness.notify._events import Event
from harness.notify._senders import Sender, public_url, send_json


class WebhookSender(Sender):
    def __init__(self, url: str, *, token: str | None, events: Iterable[str]) -> None:
        super().__init__(f"webhook {public_url(url)}")
        self._url, self._token, self._events = url, token, frozenset(events)

    def wants(self, event: Event) -> bool:
        return event.kind.value in self._events

    def send(self, event: Event) -> None:
        send_json(self._url, event.to_json(), token=self._token)
