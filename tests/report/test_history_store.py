"""The history store: a line per run that survives pruned report folders and a writer that died mid-line."""

from __future__ import annotations

import json
import math
import re
import shutil
from pathlib import Path

from typer.testing import CliRunner

from harness.cli import app
from harness.report import append_runs, collect_runs, load_result, read_store
from tests.report.test_history_page import three_runs


def stored(tmp_path: Path) -> tuple[Path, list[Path]]:
    folders = three_runs(tmp_path)
    store = tmp_path / "reports" / "history.jsonl"
    for folder in folders:  # one `harness run` each
        assert append_runs(store, [(load_result(folder), folder)]) == 1
    return store, folders


def test_each_run_appends_one_line_that_reads_back_with_its_trend_inputs(tmp_path: Path) -> None:
    store, folders = stored(tmp_path)
    lines = store.read_text().splitlines()
    assert len(lines) == 3
    first = json.loads(lines[0])
    assert (first["name"], first["run_id"], first["outcome"], first["passed"]) == ("abort", "run0", "PASS", 2)
    assert first["activation_latency_s"] == 0.02 and first["recovered_within_s"] == 5.0
    assert first["report"] == folders[0].name  # relative: the claim may be mounted elsewhere
    contents = read_store(store)
    assert contents.skipped == []
    assert [(r.result.run_id, r.result.outcome.value) for r in contents.runs] == [
        ("run0", "PASS"), ("run1", "FAIL"), ("run2", "FAIL")]
    verdict = contents.runs[0].result.verdicts[0]
    assert (verdict.name, verdict.value, verdict.interval, verdict.phase) == ("errors stay low", 0.01,
                                                                             (0.005, 0.02), "fault")
    assert contents.runs[0].folder == folders[0]


def test_an_infinite_interval_is_stored_as_the_journal_spells_it(tmp_path: Path) -> None:
    (folder, *_) = three_runs(tmp_path)
    result = load_result(folder)
    result.verdicts[0] = type(result.verdicts[0])(**{**result.verdicts[0].__dict__, "interval": (0.1, math.inf)})
    append_runs(tmp_path / "h.jsonl", [(result, folder)])
    assert '"interval": [0.1, "inf"]' in (tmp_path / "h.jsonl").read_text()
    assert read_store(tmp_path / "h.jsonl").runs[0].result.verdicts[0].interval == (0.1, math.inf)


def test_a_torn_last_line_is_skipped_and_the_next_append_starts_a_fresh_line(tmp_path: Path) -> None:
    store, folders = stored(tmp_path)
    whole = store.read_text()
    store.write_text(whole + whole.splitlines()[0][:57])  # a writer killed mid-line
    contents = read_store(store)
    assert len(contents.runs) == 3
    (skipped,) = contents.skipped
    assert skipped.startswith(f"{store}:4: ") and "partly written" in skipped
    append_runs(store, [(load_result(folders[2]), folders[2])])
    contents = read_store(store)
    assert len(contents.runs) == 4 and "not a run record" in contents.skipped[0]


def test_runs_in_the_store_and_in_their_folders_are_shown_once(tmp_path: Path) -> None:
    store, _ = stored(tmp_path)
    contents = collect_runs([tmp_path / "reports"], store)
    assert [r.result.run_id for r in contents.runs] == ["run0", "run1", "run2"]


def test_history_html_from_the_store_alone_shows_the_trend_after_the_folders_are_pruned(tmp_path: Path) -> None:
    store, folders = stored(tmp_path)
    for folder in folders[:2]:
        shutil.rmtree(folder)
    page_path = tmp_path / "site" / "history.html"
    result = CliRunner().invoke(app, ["history", "--store", str(store), "--html", str(page_path)])
    assert result.exit_code == 0, result.output
    assert re.findall(r"(PASS|FAIL|INCONCLUSIVE) +\d/\d passed +abort", result.output) == ["PASS", "FAIL", "FAIL"]
    assert "PFF" in result.output
    page = page_path.read_text()
    cells = re.findall(r'<td class="run (\w+)">\w+<br><small>(\w+)</small>', page)
    assert cells == [("PASS", "run0"), ("FAIL", "run1"), ("FAIL", "run2")]
    assert re.findall(r'aria-label="([^"]+)" class="plot"', page) == ["resilience score", "activation latency",
                                                                      "time to recover"]
    change = re.search(r'<li class="change">(.*?)</li>', page, re.S)
    assert change is not None and "run0 <small>(report pruned)</small>" in change.group(1)
    assert 'href="../reports/' not in change.group(1).split("to run")[0]


def test_history_store_that_does_not_exist_is_said_not_a_traceback(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["history", "--store", str(tmp_path / "none.jsonl")])
    assert result.exit_code == 0
    assert "does not exist yet" in result.output and "no runs found" in result.output
