"""Ctrl-C, SIGTERM and SIGHUP during a run: they end it (and revert), but never cut a revert half-way."""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator


class Interrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM arrived; faults are reverted on the way out."""


ENDING_SIGNALS = (signal.SIGTERM, signal.SIGHUP)  # CI cancellation, a closed terminal


@contextlib.contextmanager
def signals_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP behave like Ctrl-C; the previous handlers come back afterwards."""
    def on_signal(signum: int, frame: object) -> None:
        raise Interrupted()

    if threading.current_thread() is not threading.main_thread():  # signals reach the main thread only
        yield
        return
    previous = {sig: signal.signal(sig, on_signal) for sig in ENDING_SIGNALS}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """Hold Ctrl-C, SIGTERM and SIGHUP until the block is done, then raise Interrupted.

    A revert must not stop half-way because the user pressed Ctrl-C again: the second signal is
    noted and acted on once every object is back.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    watched = (signal.SIGINT, *ENDING_SIGNALS)
    previous = {sig: signal.signal(sig, lambda signum, frame: received.append(signum)) for sig in watched}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if received:
        raise Interrupted()
