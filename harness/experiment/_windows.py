"""Is a phase long enough to judge from Prometheus? A counter is known only at scrape times.

Counts are taken between scrapes inside the window (see harness/metrics/_counters.py), so a window
of W seconds at a scrape interval of I holds at most floor(W / I) scrapes and counts over as few as
W - 2I seconds. Four intervals leave at least two whole intervals counted; anything shorter is
mostly edge, and a verdict from it would rest on one or two scrapes.
"""

from __future__ import annotations

from harness.experiment._model import Hypothesis, Phases
from harness.istio import parse_duration_s

MIN_SCRAPES = 4


def planned_window_s(h: Hypothesis, phases: Phases) -> float:
    """The seconds a hypothesis is judged on, as planned (the fault phase may start later, once active)."""
    return judged_part_s(h, phases.seconds(h.phase))


def judged_part_s(h: Hypothesis, seconds: float) -> float:
    """The part of a phase of ``seconds`` that a hypothesis judges: its first ``within``, or from ``after`` on."""
    if h.within:
        seconds = min(seconds, parse_duration_s(h.within))
    if h.after:
        seconds = max(0.0, seconds - parse_duration_s(h.after))
    return seconds


def window_label(h: Hypothesis) -> str:
    if h.within:
        return f"{h.phase} (within {h.within})"
    if h.after:
        return f"{h.phase} (after {h.after})"
    return h.phase


def scrape_shortfall(label: str, seconds: float, interval_s: float) -> str | None:
    """Why a window of ``seconds`` is too short at ``interval_s``, or None when it is long enough."""
    needed = MIN_SCRAPES * interval_s
    if seconds >= needed:
        return None
    scrapes = int(seconds // interval_s)
    return (f"phase too short: {label}: {seconds:.0f}s gives {scrapes} scrape{'s' if scrapes != 1 else ''} at "
            f"{interval_s:g} s; at least {needed:g}s needed")


def too_short(h: Hypothesis, phases: Phases, interval_s: float) -> str | None:
    """For a mesh hypothesis, why its planned window cannot be judged at ``interval_s``; None when it can."""
    if h.source != "mesh":
        return None  # the client records every request: no scrape interval to fill
    return scrape_shortfall(window_label(h), planned_window_s(h, phases), interval_s)
