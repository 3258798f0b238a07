"""The progress line from synthetic records: real per-interval rates, the configured one beside it, and why they differ."""

from __future__ import annotations

import math
from collections.abc import Callable

import pandas as pd
import pytest

from harness.experiment import Load
from harness.load import LoadStatus, last_complete_interval, progress_line
from harness.load._progress import FLUSH_LAG_S, IntervalLoad, completeness_lag_s, rate_gap_reason

T0 = 1_000


def record(rate_at: float | Callable[[int], float], *, start: float, now: float, latency_ms: float = 20.0,
           flush_lag_s: float = 1.0, outcome: str = "ok") -> pd.DataFrame:
    """What samples.csv holds at ``now``: requests at ``rate_at(t)`` per second, each written once it ended and the
    next flush came (everything that ended in the last ``flush_lag_s`` is not in the file yet)."""
    rows = []
    for second in range(math.floor(start), math.ceil(now)):
        per_s = round(rate_at(second) if callable(rate_at) else rate_at)
        for t in (second + i / per_s for i in range(per_s)):
            if start <= t and t + latency_ms / 1000 <= now - flush_lag_s:
                rows.append((t, "tagged", "home", 200, latency_ms, outcome))
    return pd.DataFrame(rows, columns=["t", "cohort", "name", "status", "latency_ms", "outcome"])


def status(state: str = "running", users: int = 6, *, expected_workers: int = 0,
           workers: tuple[tuple[float, int], ...] = ()) -> LoadStatus:
    return LoadStatus(state, users, expected_workers, workers, T0)


LOAD = Load(users=6, rate=60)


def complete(samples: pd.DataFrame, now: float) -> IntervalLoad:
    """The last complete interval at a 1 s flush lag (there must be one)."""
    found = last_complete_interval(samples, now=now, lag_s=1.0)
    assert found is not None
    return found


def line(samples: pd.DataFrame, now: float, load: Load = LOAD, state: LoadStatus | None = None) -> str:
    return progress_line(samples, now=now, load=load, status=state or status(users=load.users), phase="fault",
                         left_s=12, fault_active=True)


def test_three_lines_five_seconds_apart_over_a_steady_60_per_second_all_say_60() -> None:
    lines = []
    for now in (T0 + 10.3, T0 + 15.3, T0 + 20.3):
        samples = record(60, start=T0, now=now)
        naive = len(samples[samples["t"] >= now - 5]) / 5  # the old way: the unflushed last second reads low
        assert naive < 54
        lines.append(line(samples, now))
    assert all("   60.0 req/s (configured 60)  errors   0.0%  fault active: yes" in text for text in lines), lines
    assert not any("<-" in text for text in lines)  # no gap, no reason


def test_each_line_covers_its_own_seconds_so_a_change_shows_at_once() -> None:
    def rate_at(t: float) -> float:
        return 60.0 if t < T0 + 12 else 30.0

    rates = [complete(record(rate_at, start=T0, now=now), now).per_s for now in (T0 + 11.5, T0 + 18.5)]
    assert rates == [60.0, 30.0]


def test_only_whole_complete_seconds_count() -> None:
    samples = record(60, start=T0 + 0.5, now=T0 + 9.7)
    interval = complete(samples, T0 + 9.7)
    assert (interval.start, interval.end, interval.requests) == (T0 + 3, T0 + 8, 300)
    first = complete(samples, T0 + 3.2)  # 0.5-1.0 is the ramp's partial second
    assert (first.start, first.end, first.per_s) == (T0 + 1, T0 + 2, 60.0)
    assert last_complete_interval(samples, now=T0 + 2.2, lag_s=1.0) is None
    assert last_complete_interval(samples.iloc[:0], now=T0 + 9, lag_s=1.0) is None


def test_nothing_complete_yet_says_measuring() -> None:
    samples = record(60, start=T0, now=T0 + 1.5)
    assert line(samples, T0 + 1.5).startswith("fault        12s left       -- req/s (configured 60, measuring)")


def test_slow_answers_wait_longer_for_their_second_to_complete() -> None:
    samples = record(60, start=T0, now=T0 + 20, latency_ms=2500)
    assert completeness_lag_s(samples, now=T0 + 20, load=LOAD) == FLUSH_LAG_S + 2.5
    assert completeness_lag_s(samples, now=T0 + 20, load=Load(users=6, rate=60, workers=2)) == 2 * FLUSH_LAG_S + 2.5
    assert "   60.0 req/s" in line(samples, T0 + 20)


def test_the_configured_side_is_the_rate_or_the_users() -> None:
    samples = record(40, start=T0, now=T0 + 10)
    assert "   40.0 req/s (users 6)  errors" in line(samples, T0 + 10, Load(users=6))
    steps = Load.model_validate({"users": 6, "rate": 60, "shape": {"kind": "steps",
                                                                 "steps": [{"users": 3, "duration": "10s"}]}})
    assert "(shape steps, 3 users now)" in line(samples, T0 + 10, steps, status(users=3))


def test_errors_are_counted_over_the_same_seconds() -> None:
    ok = record(30, start=T0, now=T0 + 10)
    bad = record(30, start=T0 + 1 / 60, now=T0 + 10, outcome="FI")
    assert "errors  50.0%" in line(pd.concat([ok, bad]).sort_values("t"), T0 + 10)


@pytest.mark.parametrize(("load", "state", "latency_ms", "reason"), [
    (Load(users=6, rate=60), status(), 250.0,
     "answers slower than each user's turn: 150 of 150 took over 100 ms (6 users for 60 req/s): raise load.users"),
    (Load(users=6, rate=60, workers=2), status(users=3, expected_workers=2, workers=((T0, 2), (T0 + 3, 1))), 20.0,
     "workers lost: 1 of 2 Locust workers (3 of 6 users)"),
    (Load(users=6, rate=60), status("spawning", users=3), 20.0, "spawning: 3 of 6 users"),
    (Load(users=6), status("spawning", users=3), 20.0, "spawning: 3 of 6 users"),
    (Load(users=6, rate=60), status(), 20.0,
     "below the configured 60 without slow answers or lost workers: is the load generator short of CPU?"),
])
def test_a_gap_over_ten_percent_comes_with_its_reason(load: Load, state: LoadStatus, latency_ms: float,
                                                      reason: str) -> None:
    samples = record(30, start=T0, now=T0 + 20, latency_ms=latency_ms)
    text = line(samples, T0 + 20, load, state)
    assert "   30.0 req/s" in text and text.endswith("  <- " + reason), text


def test_within_ten_percent_needs_no_reason_and_above_says_so() -> None:
    samples = record(56, start=T0, now=T0 + 20)
    assert rate_gap_reason(complete(samples, T0 + 20), LOAD, status()) is None
    fast = complete(record(70, start=T0, now=T0 + 20), T0 + 20)
    assert str(rate_gap_reason(fast, LOAD, status())).startswith("above the configured 60")


def test_seconds_before_every_user_ran_are_not_the_rate() -> None:
    def ramp(t: float) -> float:
        return 10.0 if t < T0 + 5 else 60.0

    samples = record(ramp, start=T0, now=T0 + 8.5)
    text = progress_line(samples, now=T0 + 8.5, load=LOAD, status=status(), phase="baseline", left_s=3,
                         fault_active=False, since=T0 + 5.2)
    assert "   60.0 req/s" in text and "<-" not in text
    assert math.isclose(complete(samples, T0 + 8.5).per_s, 30.0)  # the ramp included
