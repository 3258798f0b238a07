"""Tagged users are spread evenly over Locust workers, one user per worker included."""

from __future__ import annotations

import pytest

from harness.load._cohort import is_tagged


def tagged_per_worker(users_per_worker: list[int], share: float) -> list[int]:
    count = len(users_per_worker)
    return [sum(is_tagged(n, share, worker_index=k, worker_count=count) for n in range(users))
            for k, users in enumerate(users_per_worker)]


def test_one_process_keeps_the_evenly_spread_sequence() -> None:
    assert [is_tagged(n, 0.5) for n in range(6)] == [False, True, False, True, False, True]
    assert [is_tagged(n, 0.25) for n in range(8)] == [False, False, False, True] * 2
    assert not any(is_tagged(n, 0.0) for n in range(10)) and all(is_tagged(n, 1.0) for n in range(10))


@pytest.mark.parametrize(("workers", "share", "tagged"), [(2, 0.5, 1), (4, 0.5, 2), (4, 0.25, 1), (10, 0.3, 3),
                                                          (3, 1.0, 3), (3, 0.0, 0)])
def test_one_user_per_worker_still_tags_the_share_of_workers(workers: int, share: float, tagged: int) -> None:
    assert sum(tagged_per_worker([1] * workers, share)) == tagged


@pytest.mark.parametrize("workers", [1, 2, 3, 4, 7])
@pytest.mark.parametrize("share", [0.1, 0.25, 0.5, 0.7, 0.9])
def test_equal_crowds_give_exactly_the_share_overall_and_about_it_on_every_worker(workers: int, share: float) -> None:
    users = 10
    per_worker = tagged_per_worker([users] * workers, share)
    assert sum(per_worker) == int(share * users * workers + 1e-9)
    assert all(abs(n - share * users) < 1 for n in per_worker)  # no worker holds the tagged cohort alone


def test_a_worker_index_past_the_count_wraps() -> None:
    # Locust gives a reconnecting worker a new index; its users must still land somewhere sensible
    assert is_tagged(0, 0.5, worker_index=3, worker_count=2) == is_tagged(0, 0.5, worker_index=1, worker_count=2)
