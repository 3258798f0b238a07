"""The fixed-rate pacer on a fake clock: never faster than the rate, even right after a stall.

Times are binary fractions (8 requests/s, 1/128 s answers) so float sums land exactly on second boundaries.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from harness.load._pacing import Pacer


def task_starts(interval_s: float, duration_s: float, latency_s: Callable[[float], float]) -> list[float]:
    """Drive one Locust user as Locust does: run a task, ask wait_time, sleep, repeat."""
    pacer = Pacer(interval_s, started_at=0.0)
    now, starts = 0.0, []
    while now < duration_s:
        starts.append(now)
        now += latency_s(now)
        now += pacer.wait_s(now)
    return starts


QUICK_S = 1 / 128
INTERVAL_S = 1 / 8


def stall(start_s: float, seconds: float) -> Callable[[float], float]:
    """Quick answers, except the request sent at ``start_s`` takes ``seconds``."""
    return lambda now: seconds if now == start_s else QUICK_S


def test_a_steady_user_sends_at_exactly_its_rate() -> None:
    starts = task_starts(INTERVAL_S, 10, lambda _: QUICK_S)
    assert len(starts) == 80
    assert set(Counter(int(t) for t in starts).values()) == {8}


@pytest.mark.parametrize("stalled_s", [0.375, 2.0, 3.75])
def test_after_a_stall_no_second_holds_more_than_the_rate_and_the_shortfall_is_lost(stalled_s: float) -> None:
    starts = task_starts(INTERVAL_S, 10, stall(2.0, stalled_s))
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= INTERVAL_S  # never two tasks closer than the interval, so never a burst
    assert max(Counter(int(t) for t in starts).values()) <= 8
    assert len(starts) == pytest.approx(80 - stalled_s * 8, abs=1)  # what the stall cost is not made up


def test_after_a_stall_the_schedule_restarts_at_once() -> None:
    starts = task_starts(INTERVAL_S, 5, stall(2.0, 2.0))
    assert 4.0 in starts  # the request after the stall goes out when the stalled one returns


def test_slow_answers_cap_the_rate_instead_of_queueing_debt() -> None:
    starts = task_starts(INTERVAL_S, 10, lambda _: 0.25)
    assert len(starts) == 40  # one request per 250 ms answer
    assert starts[-1] == pytest.approx(9.75)
