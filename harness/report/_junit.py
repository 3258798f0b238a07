"""JUnit XML for CI (a testsuite per experiment, a testcase per hypothesis) and the one-line verdict it carries."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.report._result import RunResult, RunStatus
from harness.verdict import Outcome


def write_junit(results: Sequence[RunResult], path: Path, *, inconclusive_fails: bool = False) -> None:
    """A testsuite per experiment, a testcase per hypothesis; messages carry the numbers."""
    suites = ET.Element("testsuites", name="istio-chaos-harness")
    for result in results:
        cases = result.verdicts or []
        failures = sum(v.outcome is Outcome.FAIL or (inconclusive_fails and v.outcome is Outcome.INCONCLUSIVE)
                       for v in cases)
        skipped = sum(v.outcome is Outcome.INCONCLUSIVE and not inconclusive_fails for v in cases)
        errors = 1 if result.status in (RunStatus.ERROR, RunStatus.INTERRUPTED, RunStatus.ABORTED) else 0
        suite = ET.SubElement(suites, "testsuite", name=result.name, tests=str(len(cases) + errors),
                              failures=str(failures), errors=str(errors), skipped=str(skipped),
                              time=f"{max(0.0, result.ended_at - result.started_at):.1f}")
        for verdict in cases:
            case = ET.SubElement(suite, "testcase", classname=result.name, name=verdict.name)
            message = verdict_line(verdict)
            if verdict.outcome is Outcome.FAIL or (inconclusive_fails and verdict.outcome is Outcome.INCONCLUSIVE):
                ET.SubElement(case, "failure", message=message, type=verdict.outcome.value).text = verdict.query
            elif verdict.outcome is Outcome.INCONCLUSIVE:
                ET.SubElement(case, "skipped", message=message)
        if errors:
            case = ET.SubElement(suite, "testcase", classname=result.name, name="run")
            ET.SubElement(case, "error", message=f"run {result.status}: {result.error or ''}".strip())
    ET.indent(suites)
    ET.ElementTree(suites).write(path, encoding="utf-8", xml_declaration=True)


def verdict_line(v: Any) -> str:
    value = "n/a" if v.value is None else f"{v.value:.4g}"
    interval = "" if v.interval is None else f" [{v.interval[0]:.4g}, {v.interval[1]:.4g}]"
    return (f"{v.outcome.value}: {v.name}: {v.measure} ({v.source}, {v.phase}, {v.cohort}) = {value}{interval}, "
            f"expected {v.bound}; n={v.samples}; {v.reason}{predicted_note(v)}")


def predicted_note(v: Any) -> str:
    """``; predicted 0.889`` (with its range) and ``SURPRISE`` when the observed interval excludes it."""
    predicted = getattr(v, "predicted", None)
    if predicted is None:
        return ""
    span = getattr(v, "predicted_range", None)
    shown = f"{predicted:.4g}" + (f" ({span[0]:.4g}..{span[1]:.4g})" if span and span[0] != span[1] else "")
    return f"; predicted {shown}" + ("; SURPRISE" if getattr(v, "surprise", False) else "")
