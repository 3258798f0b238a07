"""The progress line: the rate achieved over the last complete seconds, the configured one beside it, and why they differ.

Locust records a request when it ends, stamped with the time it started, and its record reaches
samples.csv once a second (a worker's rows one more second later, through its master). The newest
seconds in the file are therefore always short, and counting "the last 5 s" up to now repeats a
stale, low rate (48 of 60 req/s, line after line). Only whole seconds old enough that every request
started in them has been written count here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.experiment import Load
from harness.load._status import LoadStatus

if TYPE_CHECKING:
    import pandas as pd

WINDOW_S = 5                  # the runner prints a line every 5 s: each line covers the 5 s before it
FLUSH_LAG_S = 1.25            # Locust writes its record every second: a 1 s sleep, then the write itself
WORKER_LAG_S = 1.25           # ...and a worker sends its rows to the master as often, before that
MAX_LATENCY_WAIT_S = 10.0     # slow answers delay a second's completeness; beyond this the line would be too old
RATE_TOLERANCE = 0.10         # configured and achieved within 10%: no reason given
# the oldest request a line reads: the window, ending the longest completeness lag ago (whole seconds)
TAIL_S = WINDOW_S + FLUSH_LAG_S + WORKER_LAG_S + MAX_LATENCY_WAIT_S + 2


@dataclass(frozen=True)
class IntervalLoad:
    """Requests that started in the whole seconds [start, end), all of them recorded."""

    start: int
    end: int
    requests: int
    errors: int
    slow: int  # answers slower than each user's turn at the configured rate

    @property
    def per_s(self) -> float:
        return self.requests / (self.end - self.start)

    @property
    def error_share(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


def progress_line(samples: pd.DataFrame, *, now: float, load: Load, status: LoadStatus | None, phase: str,
                  left_s: float, fault_active: bool, since: float | None = None,
                  first_t: float | None = None) -> str:
    """One line for the user; ``since``: when every user was sending (earlier seconds are the ramp, not the rate).

    ``samples`` may be only the record's last ``TAIL_S`` seconds, with ``first_t`` (its earliest t) beside them.
    """
    interval = last_complete_interval(samples, now=now, lag_s=completeness_lag_s(samples, now=now, load=load),
                                      since=since, slow_ms=user_turn_ms(load), first_t=first_t)
    head = f"{phase:9} {max(0.0, left_s):5.0f}s left"
    active = f"fault active: {'yes' if fault_active else 'no'}"
    if interval is None:
        return f"{head}  {'--':>7} req/s ({configured_label(load, status)}, measuring)  {active}"
    reason = rate_gap_reason(interval, load, status)
    line = (f"{head}  {interval.per_s:7.1f} req/s ({configured_label(load, status)})  "
            f"errors {interval.error_share * 100:5.1f}%  {active}")
    return f"{line}  <- {reason}" if reason else line


def last_complete_interval(samples: pd.DataFrame, *, now: float, lag_s: float, since: float | None = None,
                           span_s: int = WINDOW_S, slow_ms: float = math.inf,
                           first_t: float | None = None) -> IntervalLoad | None:
    """The last ``span_s`` whole seconds every request of which is recorded; None before one such second exists.

    ``first_t``: the record's earliest t, when ``samples`` is only its tail (the whole record's minimum otherwise).
    """
    if first_t is None:
        if samples.empty:
            return None
        first_t = float(samples["t"].min())
    end = math.floor(now - lag_s)
    first = math.ceil(max(first_t, since or -math.inf))  # a second the load began in is partial
    start = max(end - span_s, first)
    if end - start < 1:
        return None
    inside = samples[(samples["t"] >= start) & (samples["t"] < end)]
    latency = inside["latency_ms"].astype(float)
    return IntervalLoad(start, end, len(inside), int((inside["outcome"] != "ok").sum()), int((latency > slow_ms).sum()))


def completeness_lag_s(samples: pd.DataFrame, *, now: float, load: Load) -> float:
    """How old a second must be before all of its requests are in the record: the flushes, plus the slowest
    recent answer (a request is written when it ends)."""
    lag = FLUSH_LAG_S + (WORKER_LAG_S if load.workers or load.pods else 0.0)
    recent = samples[samples["t"] >= now - 2 * WINDOW_S] if not samples.empty else samples
    slowest_s = float(recent["latency_ms"].astype(float).max()) / 1000 if not recent.empty else 0.0
    return lag + min(slowest_s, MAX_LATENCY_WAIT_S)


def user_turn_ms(load: Load) -> float:
    """The time each user has per request at the configured rate (a user waits for its answer before the next)."""
    return load.users / load.rate * 1000 if load.rate else math.inf


def configured_rate(load: Load) -> float | None:
    """The rate the experiment asks for; a steps or spike shape moves it on purpose, so it has none."""
    return load.rate if load.shape.kind == "constant" else None


def configured_label(load: Load, status: LoadStatus | None) -> str:
    rate = configured_rate(load)
    if rate is not None:
        return f"configured {rate:g}"
    if load.shape.kind != "constant":
        return f"shape {load.shape.kind}" + (f", {status.users} users now" if status else "")
    return f"users {load.users}"


def rate_gap_reason(interval: IntervalLoad, load: Load, status: LoadStatus | None) -> str | None:
    """Why the achieved load is not the configured one (off by over 10%, or users missing); None when it is."""
    rate = configured_rate(load)
    missing_users = load.shape.kind == "constant" and status is not None and status.users < load.users
    short = rate is not None and interval.per_s < rate * (1 - RATE_TOLERANCE)
    if not (short or missing_users):
        if rate is not None and interval.per_s > rate * (1 + RATE_TOLERANCE):
            return f"above the configured {rate:g}: does a task of the locustfile send more than one request?"
        return None
    lost = sum(loss.lost for loss in status.losses()) if status else 0
    if lost and status is not None:
        return f"workers lost: {lost} of {status.expected_workers} Locust workers ({status.users} of {load.users} users)"
    if status is not None and (status.state == "spawning" or missing_users):
        return f"spawning: {status.users} of {load.users} users"
    if interval.slow and rate is not None:
        return (f"answers slower than each user's turn: {interval.slow} of {interval.requests} took over "
                f"{user_turn_ms(load):.0f} ms ({load.users} users for {rate:g} req/s): raise load.users")
    return f"below the configured {rate:g} without slow answers or lost workers: is the load generator short of CPU?"
