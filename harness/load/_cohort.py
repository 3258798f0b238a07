"""Which Locust users join the tagged cohort (used inside the Locust process, tested outside it)."""

from __future__ import annotations

from fractions import Fraction
from math import floor


def is_tagged(number: int, share: float, *, worker_index: int = 0, worker_count: int = 1) -> bool:
    """Whether user ``number`` of its process (worker ``worker_index`` of ``worker_count``) is tagged.

    Users are numbered per process, and Locust hands users to workers round-robin, so user
    ``number`` of worker ``k`` is user ``number * worker_count + k`` of the whole crowd. Each
    worker walks the same evenly spread sequence (user i is tagged when floor((i+1)*share) >
    floor(i*share)) shifted by ``k / worker_count``: every worker gets its share of tagged users,
    one user per worker still gives ``share`` of the workers tagged, and the shifts add up to
    exactly floor(share * users) tagged users (Hermite's identity) when workers hold equal crowds.
    Fractions, not floats: 0.1 * 3 + 0.7 must reach 1.
    """
    ratio = Fraction(str(share))
    offset = Fraction(worker_index % max(worker_count, 1), max(worker_count, 1))
    return floor((number + 1) * ratio + offset) > floor(number * ratio + offset)
