"""One receiver's bounded queue and the background thread that empties it: a slow receiver delays nobody else."""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Iterable

from harness.errors import NotifyError
from harness.notify._events import Event
from harness.notify._senders import Sender

log = logging.getLogger(__name__)
QUEUE_SIZE = 32  # a run has five events; more waiting means the receiver stopped answering


class Channel:
    """Events for one sender, delivered in order from its own daemon thread; failures are kept for the run's notes."""

    def __init__(self, sender: Sender) -> None:
        self.sender = sender
        self._queue: queue.Queue[Event | None] = queue.Queue(maxsize=QUEUE_SIZE)  # None: no more events
        self._lock = threading.Lock()
        self._failed: list[tuple[Event, str]] = []
        self._sending: Event | None = None
        self._abandoned = False  # set once the run stopped waiting: what is still queued is not sent any more
        self._thread = threading.Thread(target=self._deliver, name=f"notify {sender.label}", daemon=True)
        self._thread.start()

    def put(self, event: Event) -> None:
        """Queue ``event`` if the receiver wants it; never blocks."""
        if not self.sender.wants(event):
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            self._fail(event, f"dropped, {QUEUE_SIZE} events were already waiting")

    def close(self, deadline: float) -> None:
        """Let the queue drain until ``deadline`` (time.monotonic); whatever is left then is abandoned, not awaited."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=max(0.0, deadline - time.monotonic()))
        self._thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._abandoned = True

    def problems(self, *, waited_s: float) -> list[str]:
        """What did not reach the receiver, as one note ("notification to X failed: ..."), or nothing."""
        with self._lock:
            failed = list(self._failed)
            waiting = [self._sending] if self._sending is not None else []
            with self._queue.mutex:  # the delivering thread may be taking from it right now
                unsent = [e for e in self._queue.queue if e is not None]
        reasons = dict.fromkeys(why for _, why in failed)  # one part per distinct reason, in the order they came
        parts = [f"{_names(e for e, why in failed if why == reason)}: {reason}" for reason in reasons]
        if waiting:
            parts.append(f"{_names(waiting)}: no answer yet when the run stopped waiting ({waited_s:g} s at its end)")
        if unsent:
            parts.append(f"{_names(unsent)}: not sent, the run waits at most {waited_s:g} s at its end")
        return [f"notification to {self.sender.label} failed: " + "; ".join(parts)] if parts else []

    def _deliver(self) -> None:
        while True:
            event = self._queue.get()
            with self._lock:
                if event is None or self._abandoned:
                    return
                self._sending = event
            try:
                self.sender.send(event)
            except NotifyError as exc:
                self._fail(event, exc.message)
            except Exception as exc:  # a bug in a sender must not end the run or its other notifications
                log.exception("notification %s to %s", event.kind.value, self.sender.label)
                self._fail(event, f"unexpected error: {exc!r}")
            finally:
                with self._lock:
                    self._sending = None

    def _fail(self, event: Event, why: str) -> None:
        with self._lock:
            first = not self._failed
            self._failed.append((event, why))
        # once per receiver is enough on the terminal; the run's notes list every failed event
        log.log(logging.WARNING if first else logging.DEBUG, "notification %s to %s failed: %s", event.kind.value,
                self.sender.label, why)


def _names(events: Iterable[Event]) -> str:
    return ", ".join(e.kind.value for e in events)
