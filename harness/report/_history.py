"""Read reports back: regenerate a report from its journal, and trends across runs for game days."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.errors import ReportError
from harness.report._result import Change, RunResult, RunStatus
from harness.verdict import Outcome, Verdict


def load_result(folder: Path) -> RunResult:
    """Rebuild a run's result from its ``journal.json``."""
    try:
        data = json.loads((folder / "journal.json").read_text())
    except (OSError, ValueError) as exc:
        raise ReportError(f"{folder}: no readable journal.json ({exc})",
                          hint="pass a folder written by 'harness run'") from None
    names = {f.name for f in fields(RunResult)}
    kwargs = {k: v for k, v in data.items() if k in names}
    kwargs["verdicts"] = [verdict_from(v) for v in data.get("verdicts", [])]
    kwargs["guardrails"] = [verdict_from(v) for v in data.get("guardrails", [])]
    change_names = {f.name for f in fields(Change)}
    kwargs["changes"] = [Change(**{k: v for k, v in c.items() if k in change_names}) for c in data.get("changes", [])]
    kwargs["phases"] = {k: tuple(v) for k, v in data.get("phases", {}).items()}
    kwargs["status"] = RunStatus(data.get("status", RunStatus.RUNNING))
    for key in ("fault_active",):
        if kwargs.get(key) is not None:
            kwargs[key] = tuple(kwargs[key])
    return RunResult(**kwargs)


def _number(value: Any) -> Any:
    if value == "inf":
        return math.inf
    if value == "-inf":
        return -math.inf
    return value


def verdict_from(data: dict[str, Any]) -> Verdict:
    """A verdict from its journal (or history store) form."""
    names = {f.name for f in fields(Verdict)}
    kwargs = {k: v for k, v in data.items() if k in names}
    kwargs["outcome"] = Outcome(data["outcome"])
    for key in ("interval", "window"):
        if kwargs.get(key) is not None:
            kwargs[key] = tuple(_number(v) for v in kwargs[key])
    kwargs["value"] = _number(kwargs.get("value"))
    kwargs["assumptions"] = tuple(kwargs.get("assumptions") or ())
    return Verdict(**kwargs)


def regenerate(folder: Path) -> Path:
    """Write every report format again from the journal and the raw samples."""
    import pandas as pd

    from harness.report._write import write_reports

    result = load_result(folder)
    samples_path = folder / "samples.csv.gz"
    # a run compresses its live record as written (rows in the order requests ended): sorted as the run read it
    samples = pd.read_csv(samples_path).sort_values("t", ignore_index=True) if samples_path.exists() else pd.DataFrame(
        columns=["t", "cohort", "name", "status", "latency_ms", "outcome"])
    return write_reports(result, samples, folder)


@dataclass(frozen=True)
class Run:
    """One experiment run as the history shows it, read from its report folder or from the history store."""

    result: RunResult
    folder: Path
    game_day: str  # the folder holding suite.json for a suite run, else the run's own folder

    @property
    def when(self) -> str:
        return datetime.fromtimestamp(self.result.started_at, UTC).strftime("%Y-%m-%d %H:%M")


def game_day_of(folder: Path) -> str:
    """The suite run a run folder belongs to: its parent when that holds suite.json, else the folder itself."""
    suite_folder = folder.parent if (folder.parent / "suite.json").exists() else folder
    return str(suite_folder.resolve())


def load_run(folder: Path) -> Run:
    return Run(load_result(folder), folder, game_day_of(folder))


def run_folders(roots: Iterable[Path]) -> list[Path]:
    """Every folder holding a journal.json under ``roots``."""
    return [journal.parent for root in roots for journal in sorted(root.glob("**/journal.json"))]


@dataclass(frozen=True)
class HistoryRow:
    when: str
    name: str
    outcome: str
    status: str
    passed: int
    total: int
    folder: Path


def history(roots: Iterable[Path]) -> list[HistoryRow]:
    """Every run under ``roots`` (newest last), one row each."""
    runs = []
    for folder in run_folders(roots):
        try:
            runs.append(load_run(folder))
        except ReportError:
            continue
    return history_rows(runs)


def history_rows(runs: Iterable[Run]) -> list[HistoryRow]:
    """One listing row per run, oldest first."""
    rows = [HistoryRow(run.when, run.result.name, run.result.outcome.value, run.result.status,
                       sum(v.outcome is Outcome.PASS for v in run.result.verdicts), len(run.result.verdicts),
                       run.folder) for run in runs]
    return sorted(rows, key=lambda r: (r.when, r.name))


def trends(rows: list[HistoryRow]) -> dict[str, str]:
    """Per experiment: its outcomes over time as a strip (P/F/?), oldest first."""
    strips: dict[str, str] = {}
    for row in rows:
        strips[row.name] = strips.get(row.name, "") + {"PASS": "P", "FAIL": "F"}.get(row.outcome, "?")
    return strips
