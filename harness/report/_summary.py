"""summary.md: the run in a few Markdown lines, for a CI job summary or a chat message."""

from __future__ import annotations

from harness.report._junit import predicted_note
from harness.report._result import RunResult
from harness.verdict import Outcome

ICON = {Outcome.PASS: "✅", Outcome.FAIL: "❌", Outcome.INCONCLUSIVE: "⚠️"}


def summary_markdown(result: RunResult) -> str:
    lines = [f"### {ICON[result.outcome]} {result.name}: {result.outcome.value} ({result.status})", ""]
    if result.error:
        lines += [f"> {result.error}", ""]
    lines += ["| | hypothesis | measure | value | interval | expected | n | predicted |",
              "|---|---|---|---|---|---|---|---|"]
    for v in result.verdicts:
        value = "n/a" if v.value is None else f"{v.value:.4g}"
        interval = "" if v.interval is None else f"[{v.interval[0]:.4g}, {v.interval[1]:.4g}]"
        lines.append(f"| {ICON[v.outcome]} | {v.name} | {v.measure} ({v.source}, {v.phase}, {v.cohort}) | {value} "
                     f"| {interval} | {v.bound} | {v.samples} | {_predicted(v)} |")
    if result.activation_latency_s is not None:
        lines += ["", f"Fault active {result.activation_latency_s * 1000:.0f} ms after the write; run id "
                      f"`{result.run_id}`."]
    lines += [f"- {note}" for note in result.notes]
    return "\n".join(lines) + "\n"


def _predicted(v: object) -> str:
    """``predicted 0.889``, and **SURPRISE** when the observed interval excludes it (harness predict)."""
    note = predicted_note(v).removeprefix("; ")
    return note.replace("; SURPRISE", " **SURPRISE**")
