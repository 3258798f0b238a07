"""Follow samples.csv as Locust appends to it: each read parses only the complete lines written since the last.

One file holds every request: a lone Locust or the master writes it, workers (local or pods) send their
rows to the master (``locust_support._Recorder``). Locust flushes it each second in 64 KiB buffers, so
the last line may be torn; it stays in the file for the next read. The runner reads every few seconds
(progress, guardrails): the cost of a read follows the rows appended since the previous one, not the
run's length.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

from harness.load._sample_store import COLUMNS, LABELS, SampleStore

if TYPE_CHECKING:
    import pandas as pd

BLOCK_BYTES = 8 << 20  # parsed at most this much at a time (~200 k rows): a catch-up read stays bounded
_DTYPES = {**dict.fromkeys(LABELS, "category"), "t": "float64", "latency_ms": "float64", "status": "float64"}


class SampleReader:
    """The record at ``path`` so far, kept in a ``SampleStore``; ``update()`` takes in what was appended."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._reset()

    def _reset(self) -> None:
        self.store = SampleStore()
        self.offset = 0              # bytes of the file already in the store (header included)
        self.parsed_rows = 0         # rows the last update parsed (tests: a read parses only new rows)
        self._names: list[str] | None = None

    def update(self) -> SampleStore:
        """Parse the complete lines appended since the last call; a missing file is an empty record."""
        self.parsed_rows = 0
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 (closed below; a missing file is not an error)
        except FileNotFoundError:
            return self.store
        with handle:
            if handle.seek(0, io.SEEK_END) < self.offset:  # a new file in its place (a new run): start over
                self._reset()
            handle.seek(self.offset)
            carry = b""
            while block := handle.read(BLOCK_BYTES):
                data = carry + block
                end = data.rfind(b"\n") + 1
                carry = data[end:]
                self._take(data[:end])
        return self.store

    def _take(self, lines: bytes) -> None:
        if not lines:
            return
        self.offset += len(lines)
        if self._names is None:  # the header: csv.writer's own line, as the full read took its column names
            header, _, lines = lines.partition(b"\n")
            self._names = header.decode().strip().split(",")
            if sorted(self._names) != sorted(COLUMNS):
                raise ValueError(f"{self.path}: unexpected header {header!r}")
            if not lines:
                return
        chunk = _parse(lines, self._names)
        self.parsed_rows += len(chunk)
        self.store.append(chunk)


def _parse(lines: bytes, names: list[str]) -> pd.DataFrame:
    """The full read's parser (the same C float conversion), labels straight to categories: no string per row."""
    import pandas as pd

    return pd.read_csv(io.BytesIO(lines), header=None, names=names, dtype=_DTYPES)
