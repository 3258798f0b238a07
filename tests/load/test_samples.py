"""The incremental record reader gives exactly the full read's frame, parsing only what was appended."""

from __future__ import annotations

import csv
import io
import random
from pathlib import Path

import pandas as pd
import pytest

from harness.experiment import Load
from harness.load import progress_line
from harness.load._progress import TAIL_S
from harness.load._samples import SampleReader

COLUMNS = ["t", "cohort", "name", "status", "latency_ms", "outcome"]
T0 = 1_700_000_000.0


def full_read(path: Path) -> pd.DataFrame:
    """What LoadRun.samples() did before: the whole file through pandas, sorted by t."""
    frame = pd.read_csv(path, dtype={"cohort": str, "name": str, "outcome": str})
    return frame.sort_values("t", ignore_index=True)


def record_text(rows: int, *, seed: int = 7, header: bool = True, start: int = 0) -> str:
    """Rows as locust_support._Recorder writes them: stamped with their start, written when they end (out of t order),
    quoted names, a missing cohort now and then."""
    rng = random.Random(seed)
    lines = []
    for i in range(start, start + rows):
        latency = rng.expovariate(1 / 20) * (400 if rng.random() < 0.01 else 1)
        status, outcome = rng.choice([(200, "ok")] * 20 + [(503, "FI"), (0, "connection_error"), (504, "UT")])
        cohort = rng.choice(["tagged", "control", ""]) if rng.random() < 0.01 else rng.choice(["tagged", "control"])
        lines.append((latency, [f"{T0 + i / 1000:.6f}", cohort, rng.choice(["/", "/api", "/a,b"]), str(status),
                                f"{latency:.3f}", outcome]))
    lines.sort(key=lambda pair: float(pair[1][0]) + pair[0] / 1000)  # the order requests end in
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(COLUMNS)
    writer.writerows(row for _, row in lines)
    return out.getvalue()


@pytest.mark.parametrize("block_rows", [1 << 18, 1000])  # columns in one block, and across many
def test_chunks_with_torn_lines_read_back_exactly_as_the_full_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                   block_rows: int) -> None:
    monkeypatch.setattr("harness.load._sample_store.BLOCK_ROWS", block_rows)
    path = tmp_path / "samples.csv"
    data = record_text(20_000).encode()
    reader = SampleReader(path)
    assert reader.update().frame().empty  # no file yet: an empty record
    cuts = sorted(random.Random(1).sample(range(1, len(data)), 12))
    torn = 0
    with path.open("wb") as handle:
        for begin, end in zip([0, *cuts], [*cuts, len(data)], strict=True):
            handle.write(data[begin:end])
            handle.flush()
            torn += not data[:end].endswith(b"\n")
            reader.update()
            assert len(reader.store) == data[:end].count(b"\n") - 1  # the torn last line waits for the next read
    assert torn >= 10
    new, old = reader.store.frame(), full_read(path)
    pd.testing.assert_frame_equal(new, old)  # every column, value and dtype
    assert reader.store.nbytes / len(reader.store) <= 25  # not ~170 B of Python strings per row
    since = T0 + 12.3456
    pd.testing.assert_frame_equal(reader.store.frame(since), old[old["t"] >= since].reset_index(drop=True))


def test_a_second_read_parses_only_the_rows_appended(tmp_path: Path) -> None:
    path = tmp_path / "samples.csv"
    path.write_text(record_text(5_000))
    reader = SampleReader(path)
    reader.update()
    assert reader.parsed_rows == 5_000
    reader.update()
    assert reader.parsed_rows == 0
    with path.open("a") as handle:
        handle.write(record_text(321, header=False, seed=8, start=5_000))
    reader.update()
    assert reader.parsed_rows == 321 and len(reader.store) == 5_321
    pd.testing.assert_frame_equal(reader.store.frame(), full_read(path))


def test_latencies_without_three_decimals_and_missing_statuses_keep_the_full_reads_values(tmp_path: Path) -> None:
    path = tmp_path / "samples.csv"
    path.write_text("t,cohort,name,status,latency_ms,outcome\n1.5,tagged,/,200,12.25,ok\n")
    reader = SampleReader(path)
    reader.update()
    with path.open("a") as handle:
        handle.write("2.5,control,/,,0.1234567,connection_error\n1.0,,/,503,3e9,FI\n")
    pd.testing.assert_frame_equal(reader.update().frame(), full_read(path))


def test_a_new_file_in_place_of_the_record_starts_over(tmp_path: Path) -> None:
    path = tmp_path / "samples.csv"
    path.write_text(record_text(100))
    reader = SampleReader(path)
    reader.update()
    path.write_text(record_text(10, seed=3))
    pd.testing.assert_frame_equal(reader.update().frame(), full_read(path))


@pytest.mark.parametrize("now_s", [3.0, 9.7, 30.2, 61.0])
def test_the_progress_line_from_the_tail_is_the_line_from_the_whole_record(tmp_path: Path, now_s: float) -> None:
    path = tmp_path / "samples.csv"
    path.write_text(record_text(60_000))
    store = SampleReader(path).update()
    load, now = Load(users=6, rate=1000), T0 + now_s
    args = {"now": now, "load": load, "status": None, "phase": "fault", "left_s": 10, "fault_active": True,
            "since": T0 + 1.5}
    full = full_read(path)
    full = full[full["t"] < now]
    tail = store.frame(now - TAIL_S)
    assert progress_line(tail[tail["t"] < now], first_t=store.first_t, **args) == progress_line(full, **args)
