"""The Locust status record: worker counts kept as changes, losses read back, atomic writes."""

from __future__ import annotations

from pathlib import Path

from harness.load._status import LoadStatus, WorkerLoss, read_status, updated, write_status


def test_the_worker_count_is_kept_only_when_it_changes(tmp_path: Path) -> None:
    record = None
    for now, connected in [(1.0, 0), (2.0, 1), (3.0, 2), (4.0, 2), (5.0, 2), (6.0, 0)]:
        record = updated(record, now=now, state="running", users=4, expected_workers=2, connected_workers=connected)
    path = tmp_path / "load-status.json"
    assert record is not None
    write_status(path, record)
    status = read_status(path)
    assert status == LoadStatus("running", 4, 2, ((1.0, 0), (2.0, 1), (3.0, 2), (6.0, 0)), 6.0)
    assert status.losses() == [WorkerLoss(6.0, 2, 0)]
    assert [p.name for p in tmp_path.iterdir()] == ["load-status.json"]  # no partial file left behind


def test_one_process_has_no_workers_to_lose(tmp_path: Path) -> None:
    record = updated(None, now=1.0, state="spawning", users=2, expected_workers=0, connected_workers=None)
    record = updated(record, now=2.0, state="running", users=4, expected_workers=0, connected_workers=None)
    write_status(tmp_path / "s.json", record)
    status = read_status(tmp_path / "s.json")
    assert status is not None and status.is_sending() and status.losses() == [] and status.workers == ()


def test_workers_that_come_back_and_go_again_count_each_time() -> None:
    status = LoadStatus("running", 4, 3, ((1.0, 3), (2.0, 1), (3.0, 3), (4.0, 2)))
    assert status.losses() == [WorkerLoss(2.0, 2, 1), WorkerLoss(4.0, 1, 2)]


def test_no_file_yet_is_no_status(tmp_path: Path) -> None:
    assert read_status(tmp_path / "missing.json") is None
    (tmp_path / "half.json").write_text('{"state": "run')
    assert read_status(tmp_path / "half.json") is None
