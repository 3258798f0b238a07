"""The interface every receiver implements, and the one HTTP call they all make (network errors translated here)."""

from __future__ import annotations

import http.client
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from abc import ABC, abstractmethod
from typing import Any

from harness.errors import NotifyError
from harness.notify._events import Event

TIMEOUT_S = 2.0  # per connect and per read: a receiver slower than this is noted, not waited for
MAX_ANSWER_BYTES = 64 * 1024


class Sender(ABC):
    """One receiver of a run's events. ``send`` raises NotifyError when the receiver did not take the event."""

    def __init__(self, label: str) -> None:
        self.label = label  # what notes call it, e.g. "webhook http://hooks.example:8080"

    @abstractmethod
    def wants(self, event: Event) -> bool:
        """Whether this receiver is told about ``event`` at all."""

    @abstractmethod
    def send(self, event: Event) -> None:
        """Deliver ``event``; called from the receiver's own background thread, one event at a time."""


def send_json(url: str, body: dict[str, Any], *, method: str = "POST", token: str | None = None,
              timeout_s: float = TIMEOUT_S) -> Any:
    """Send ``body`` as JSON; return the JSON answer (None when it is not JSON). Every failure is a NotifyError."""
    headers = {"Content-Type": "application/json", "User-Agent": "istio-chaos-harness"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:
            answer = response.read(MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as exc:
        raise NotifyError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:  # connect failures; a connect timeout arrives wrapped as the reason
        raise NotifyError(_timed_out(timeout_s) if isinstance(exc.reason, TimeoutError) else
                          f"unreachable: {exc.reason}") from None
    except TimeoutError:  # connected, but the answer did not come
        raise NotifyError(_timed_out(timeout_s)) from None
    except (OSError, http.client.HTTPException) as exc:
        raise NotifyError(f"the connection failed: {exc!r}") from None
    try:
        return json.loads(answer) if answer else None
    except ValueError:
        return None  # Slack answers "ok" as plain text


def _timed_out(timeout_s: float) -> str:
    return f"no answer within {timeout_s:g} s"


def public_url(url: str) -> str:
    """Scheme, host and port only: notes and logs must not show a path or credentials (a Slack URL's path is its
    secret)."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")


def from_environment(name: str | None) -> str | None:
    """The value of the environment variable ``name``; None when unnamed, unset or empty."""
    return (os.environ.get(name) or None) if name else None
