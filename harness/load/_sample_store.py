"""The per-request record in memory: compact columns a few bytes per row, appended to, read back as DataFrames.

``pd.read_csv`` of the whole record keeps every row as Python string objects (173 B per row; 2.9 GiB at
1 h x 5,000 req/s). Here a row costs 17 B: t float64, latency as int32 microseconds (the record writes
it with three decimals, so ``us / 1000`` is the very float the CSV parser gives; checked on every
chunk, float64 kept otherwise), status int16, cohort, name and outcome as codes into small vocabularies.
Frames are materialised only for the rows asked for, sorted by t as the full read was.
"""

from __future__ import annotations

import bisect
import math
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

COLUMNS = ("t", "cohort", "name", "status", "latency_ms", "outcome")
LABELS = ("cohort", "name", "outcome")
_INT32_MAX = 2**31 - 1
BLOCK_ROWS = 1 << 18


class _Growing:
    """A column in fixed blocks: appending n rows costs O(n), never a copy of what is stored (a doubling buffer
    copies all rows now and then: ~0.3 GB at once, mid-run, at 18 M rows)."""

    def __init__(self, dtype: type | np.dtype) -> None:
        self.dtype = np.dtype(dtype)
        self.blocks: list[np.ndarray] = []
        self.size = 0

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def extend(self, values: np.ndarray) -> None:
        done = 0
        while done < len(values):
            offset = self.size % BLOCK_ROWS
            if offset == 0:
                self.blocks.append(np.empty(BLOCK_ROWS, dtype=self.dtype))  # pages are touched as rows arrive
            take = min(BLOCK_ROWS - offset, len(values) - done)
            self.blocks[-1][offset:offset + take] = values[done:done + take]
            done += take
            self.size += take

    def retype(self, dtype: type | np.dtype, divide_by: float = 1) -> None:
        self.dtype = np.dtype(dtype)
        self.blocks = [block.astype(dtype) / divide_by if divide_by != 1 else block.astype(dtype)
                       for block in self.blocks]

    def view(self, start: int = 0) -> np.ndarray:
        """Rows ``start`` on, joined from the blocks holding them (the tail costs the tail, not the column)."""
        first = start // BLOCK_ROWS
        if first >= len(self.blocks):
            return np.empty(0, dtype=self.dtype)
        joined = self.blocks[first] if first == len(self.blocks) - 1 else np.concatenate(self.blocks[first:])
        return joined[start - first * BLOCK_ROWS:self.size - first * BLOCK_ROWS]


class _Labels:
    """A text column as codes (-1: missing, as the CSV reader's NaN); codes widen past 127 and 32,767 labels."""

    def __init__(self) -> None:
        self.codes = _Growing(np.int8)
        self.vocabulary: list[str] = []
        self._index: dict[str, int] = {}

    def extend(self, chunk: pd.Categorical) -> None:
        local = np.array([self._code(str(label)) for label in chunk.categories] + [-1], dtype=np.int64)
        for dtype in (np.int8, np.int16, np.int32):
            if len(self.vocabulary) <= np.iinfo(dtype).max:
                if np.dtype(dtype).itemsize > self.codes.dtype.itemsize:
                    self.codes.retype(dtype)
                break
        self.codes.extend(local[chunk.codes].astype(self.codes.dtype))  # code -1 picks the trailing -1

    def _code(self, label: str) -> int:
        code = self._index.get(label)
        if code is None:
            code = self._index[label] = len(self.vocabulary)
            self.vocabulary.append(label)
        return code

    def values(self, rows: np.ndarray, start: int) -> pd.api.extensions.ExtensionArray:
        """The labels of ``rows`` (counted from ``start``) as the CSV reader's ``str`` column; equal labels share
        one string object."""
        import pandas as pd

        table = np.array([*self.vocabulary, np.nan], dtype=object)  # code -1 indexes the trailing NaN
        return pd.array(table[self.codes.view(start)[rows]], dtype="str")


class SampleStore:
    """Rows in arrival order (Locust writes a request when it ends, a worker's a second later), read back sorted."""

    def __init__(self) -> None:
        self._t = _Growing(np.float64)
        self._latency = _Growing(np.int32)  # microseconds; float64 ms once a chunk does not fit
        self._status = _Growing(np.int16)   # float64 once a chunk has a missing or odd status
        self._labels = {name: _Labels() for name in LABELS}
        self._chunk_ends: list[int] = []
        self._chunk_max_t: list[float] = []  # running maximum of t up to each chunk's end: never decreases
        self.first_t: float | None = None

    def __len__(self) -> int:
        return self._t.size

    @property
    def last_t(self) -> float | None:
        """When the latest recorded request started (None before any)."""
        return self._chunk_max_t[-1] if self._chunk_max_t else None

    @property
    def nbytes(self) -> int:
        """Bytes the rows hold (buffers' used part), for the benchmark's bytes per row."""
        columns = [self._t, self._latency, self._status, *(labels.codes for labels in self._labels.values())]
        return sum(column.nbytes for column in columns)

    def append(self, chunk: pd.DataFrame) -> None:
        """Rows parsed by ``pd.read_csv`` (t, status and latency_ms numeric; the labels categorical)."""
        if chunk.empty:
            return
        t = chunk["t"].to_numpy(dtype=np.float64)
        self._append_latency(chunk["latency_ms"].to_numpy(dtype=np.float64))
        self._append_status(chunk["status"].to_numpy(dtype=np.float64))
        for name, labels in self._labels.items():
            labels.extend(chunk[name].array)
        self._t.extend(t)
        top = float(np.nanmax(t)) if not np.isnan(t).all() else -math.inf
        self._chunk_max_t.append(max(top, self._chunk_max_t[-1] if self._chunk_max_t else -math.inf))
        self._chunk_ends.append(self._t.size)
        low = float(np.nanmin(t)) if not np.isnan(t).all() else math.inf
        self.first_t = low if self.first_t is None else min(self.first_t, low)

    def _append_latency(self, ms: np.ndarray) -> None:
        if self._latency.dtype == np.int32:
            with np.errstate(invalid="ignore"):
                us = np.rint(ms * 1000)
            fits = np.isfinite(us).all() and np.abs(us).max(initial=0) <= _INT32_MAX
            if fits and np.array_equal(us / 1000, ms):  # exactly the parser's float: nothing judged moves
                self._latency.extend(us.astype(np.int32))
                return
            self._latency.retype(np.float64, divide_by=1000)
        self._latency.extend(ms)

    def _append_status(self, status: np.ndarray) -> None:
        if self._status.dtype == np.int16:
            if np.isfinite(status).all() and (status == np.rint(status)).all() and np.abs(status).max(initial=0) < 2**15:
                self._status.extend(status.astype(np.int16))
                return
            self._status.retype(np.float64)  # as the full read: one missing status makes the column float
        self._status.extend(status)

    def frame(self, since: float | None = None) -> pd.DataFrame:
        """Rows with t >= ``since`` (all rows without it), sorted by t: the columns and dtypes of the full read."""
        import pandas as pd

        if not len(self):
            return pd.DataFrame(columns=list(COLUMNS))
        start = 0
        if since is not None:
            # rows arrive out of t order, but no row of a chunk whose running maximum is below since can qualify
            first_chunk = bisect.bisect_left(self._chunk_max_t, since)
            start = self._chunk_ends[first_chunk - 1] if first_chunk else 0
        t = self._t.view(start)
        if since is None:
            rows = np.argsort(t, kind="stable")  # the full read's order (NaN last), ties kept in arrival order
        else:
            rows = np.flatnonzero(t >= since)
            rows = rows[np.argsort(t[rows], kind="stable")]
        latency = self._latency.view(start)[rows]
        status = self._status.view(start)[rows]
        columns = {
            "t": t[rows],
            "status": status.astype(np.int64) if status.dtype == np.int16 else status,
            "latency_ms": latency / 1000 if latency.dtype == np.int32 else latency,
            **{name: labels.values(rows, start) for name, labels in self._labels.items()},
        }
        # the columns are fresh arrays already: copying them into the frame would double its memory
        return pd.DataFrame({name: columns[name] for name in COLUMNS}, copy=False)
