"""Write a run's reports: journal.json, junit.xml, summary.md, report.html, and the raw data they come from.

The raw data (``samples.csv.gz``, the client's record; ``mesh_series.csv.gz``, the mesh series fetched
at judge time) stays beside the journal, so every format can be written again without the cluster.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.errors import ReportError
from harness.report._html import render_html
from harness.report._junit import write_junit
from harness.report._mesh_series import COLUMNS as MESH_COLUMNS
from harness.report._plots import per_second, png_img
from harness.report._result import RunResult
from harness.report._revert import revert_proof, spec_diff
from harness.report._summary import summary_markdown

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["journal", "png_img", "report_dir", "spec_diff", "write_reports"]  # png_img, spec_diff: older importers

MESH_SERIES = "mesh_series.csv.gz"
LIVE_RECORD = "samples.csv"  # Locust's record during the run (load.LoadPlan.samples_path), beside the reports
COPY_BLOCK = 4 << 20  # bytes compressed at a time: the record is never held whole
SAMPLE_COLUMNS = ("t", "cohort", "name", "status", "latency_ms", "outcome")


def report_dir(root: Path, result: RunResult) -> Path:
    stamp = datetime.fromtimestamp(result.started_at or 0, UTC).strftime("%Y%m%d-%H%M%S")
    return root / f"{stamp}-{result.name}"


def write_reports(result: RunResult, samples: pd.DataFrame, folder: Path, *,
                  mesh_series: pd.DataFrame | None = None) -> Path:
    """Write every format into ``folder``; return it. Without ``mesh_series``, the folder's own is used."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        if (folder / LIVE_RECORD).exists():  # a run's own record: compressed as written, not through pandas
            compress_record(folder / LIVE_RECORD, folder / "samples.csv.gz")
        else:  # reports written again from samples.csv.gz
            samples.to_csv(folder / "samples.csv.gz", index=False, compression="gzip")
        for live in folder.glob("samples.csv*"):  # the load generators' live files, now compressed
            if live.name != "samples.csv.gz":
                live.unlink()
        if mesh_series is not None:
            mesh_series.to_csv(folder / MESH_SERIES, index=False, compression="gzip")
        per_second(samples).to_csv(folder / "timeline.csv", index=False)
        (folder / "journal.json").write_text(json.dumps(journal(result), indent=2))
        write_junit([result], folder / "junit.xml")
        (folder / "summary.md").write_text(summary_markdown(result))
        (folder / "report.html").write_text(render_html(result, samples, read_mesh_series(folder)))
    except OSError as exc:
        raise ReportError(f"cannot write the report in {folder}: {exc}") from None
    return folder


def compress_record(live: Path, packed: Path) -> None:
    """Gzip the live record's complete lines in blocks: the same CSV (header, columns, one row per request; rows
    in the order requests ended, t as Locust wrote it) without formatting millions of floats again in pandas
    (~80 s at 18 M rows). A torn last line, from a Locust killed mid-write, is left out as the reader leaves it."""
    import gzip

    with live.open("rb") as source, gzip.open(packed, "wb", compresslevel=6) as target:
        carry, written = b"", 0
        while block := source.read(COPY_BLOCK):
            data = carry + block
            end = data.rfind(b"\n") + 1
            written += target.write(data[:end])
            carry = data[end:]
        if not written:  # Locust never wrote its header: still a CSV with the columns, as pandas wrote one
            target.write((",".join(SAMPLE_COLUMNS) + "\n").encode())


def read_mesh_series(folder: Path) -> pd.DataFrame:
    """The mesh series a run kept (empty when it had none)."""
    import pandas as pd

    path = folder / MESH_SERIES
    if not path.exists():
        return pd.DataFrame(columns=MESH_COLUMNS)
    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise ReportError(f"{path}: unreadable ({exc})", hint="delete it to render the report without mesh plots") from None


def journal(result: RunResult) -> dict[str, Any]:
    data = asdict(result)
    data["outcome"] = result.outcome.value
    data["verdicts"] = [v.to_dict() for v in result.verdicts]
    data["guardrails"] = [v.to_dict() for v in result.guardrails]
    data["changes"] = [{**asdict(c), "diff": spec_diff(c.before, c.after), "revert": _proof(c)} for c in result.changes]
    return data


def _proof(change: Any) -> dict[str, Any]:
    proof = revert_proof(change)
    return {"state": proof.state.value, "words": proof.words, "diff": proof.diff,
            "resource_versions": dict(proof.versions)}
