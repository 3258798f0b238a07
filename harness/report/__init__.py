"""Reports: journal.json, junit.xml, report.html with plots, summary.md, raw samples and mesh series."""

from harness.report._history import HistoryRow, Run, history, history_rows, load_result, regenerate, trends
from harness.report._history_page import write_history_page
from harness.report._junit import verdict_line, write_junit
from harness.report._mesh_series import MeshData, collect_mesh_series
from harness.report._plots import per_second
from harness.report._result import Change, QueryRecord, RunResult, RunStatus
from harness.report._revert import RevertProof, RevertState, revert_proof, spec_diff
from harness.report._store import StoreContents, append_runs, collect_runs, read_store
from harness.report._summary import summary_markdown
from harness.report._write import report_dir, write_reports

__all__ = [
    "Change", "HistoryRow", "MeshData", "QueryRecord", "RevertProof", "RevertState", "Run", "RunResult", "RunStatus",
    "StoreContents", "append_runs", "collect_mesh_series", "collect_runs", "history", "history_rows", "load_result",
    "per_second", "read_store", "regenerate", "report_dir", "revert_proof",
    "spec_diff", "summary_markdown", "trends", "verdict_line", "write_history_page", "write_junit", "write_reports",
]
