"""A fixed-rate schedule for one Locust user (used inside the Locust process, tested outside it)."""

from __future__ import annotations


class Pacer:
    """Starts one task every ``interval_s`` at most, and never catches up after falling behind.

    A user that fell behind (a slow response, a stalled process) restarts its schedule from now:
    catching up would send a burst above the configured rate into the next phase. The requests
    not sent are lost on purpose; the load-health check sees the shortfall in the achieved rate.
    """

    def __init__(self, interval_s: float, *, started_at: float) -> None:
        self.interval_s = interval_s
        self._last_start = started_at  # a user's first task starts as soon as it is spawned

    def wait_s(self, now: float) -> float:
        """Seconds to wait before the next task, asked at monotonic time ``now`` when a task ended."""
        self._last_start = max(self._last_start + self.interval_s, now)
        return self._last_start - now
