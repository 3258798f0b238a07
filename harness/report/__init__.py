"""Reports: journal.json, junit.xml, report.html with plots, summary.md, raw samples."""

from harness.report._history import HistoryRow, history, load_result, regenerate, trends
from harness.report._history_page import write_history_page
from harness.report._result import Change, RunResult, RunStatus
from harness.report._write import per_second, report_dir, summary_markdown, verdict_line, write_junit, write_reports

__all__ = [
    "Change", "HistoryRow", "RunResult", "RunStatus", "history", "load_result", "per_second", "regenerate", "report_dir",
    "summary_markdown", "trends", "verdict_line", "write_history_page", "write_junit", "write_reports",
]
