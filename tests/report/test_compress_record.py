"""samples.csv.gz from the live record, compressed as written: the same rows as the frame the run judged."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.report._write import compress_record
from tests.load.test_samples import full_read, record_text


def test_the_compressed_record_reads_back_as_the_pandas_written_one_without_a_torn_last_line(tmp_path: Path) -> None:
    live = tmp_path / "samples.csv"
    live.write_text(record_text(3_000) + "1700000099.000000,tagged,/,2")  # Locust killed mid-write
    compress_record(live, tmp_path / "samples.csv.gz")
    complete = tmp_path / "complete.csv"
    complete.write_text(record_text(3_000))
    full_read(complete).to_csv(tmp_path / "before.csv.gz", index=False, compression="gzip")  # what was written before
    again = pd.read_csv(tmp_path / "samples.csv.gz", dtype={"cohort": str, "name": str, "outcome": str})
    before = pd.read_csv(tmp_path / "before.csv.gz", dtype={"cohort": str, "name": str, "outcome": str})
    assert list(again.columns) == list(before.columns)
    pd.testing.assert_frame_equal(again.sort_values("t", ignore_index=True), before)


def test_an_empty_live_record_still_gives_a_csv_with_the_columns(tmp_path: Path) -> None:
    (tmp_path / "samples.csv").write_text("")
    compress_record(tmp_path / "samples.csv", tmp_path / "samples.csv.gz")
    assert pd.read_csv(tmp_path / "samples.csv.gz").empty
    assert list(pd.read_csv(tmp_path / "samples.csv.gz").columns) == ["t", "cohort", "name", "status", "latency_ms",
                                                                     "outcome"]
