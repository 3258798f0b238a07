"""Lint reports as text for people, JSON for scripts, and SARIF 2.1.0 for CI code annotations."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.errors import Location
from harness.lint._findings import ExperimentLint, Finding, LintReport, Severity
from harness.lint._rules import RULES

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_LEVELS = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def display_path(path: Path | None) -> str:
    """A path as the user would type it: relative to the working folder when it is inside it."""
    if path is None:
        return "<input>"
    try:
        return path.resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        return str(path)


def _where(location: Location) -> str:
    text = display_path(location.path)
    if location.line is not None:
        text += f":{location.line}" + (f":{location.column}" if location.column is not None else "")
    return text


def render_text(report: LintReport) -> str:
    """One block per finding, grouped per experiment, then a summary line."""
    blocks = [_experiment_text(item) for item in report.experiments]
    counts = {s: report.count(s) for s in Severity}
    summary = (f"{len(report.experiments)} experiment{'s' if len(report.experiments) != 1 else ''}: "
               f"{counts[Severity.ERROR]} error(s), {counts[Severity.WARNING]} warning(s), {counts[Severity.INFO]} info")
    return "\n\n".join(blocks + [summary])


def render_brief(report: LintReport) -> str:
    """Errors and warnings a line each with their fix (what `harness validate` adds); info only counted."""
    lines = []
    for item in report.experiments:
        for finding in item.sorted_findings():
            if finding.severity is Severity.INFO:
                continue
            lines.append(f"{_where(finding.location)}: {finding.code} {finding.severity.value}: {finding.message}")
            lines.append(f"    fix: {finding.suggested_fix}")
    infos = report.count(Severity.INFO)
    if infos:
        lines.append(f"{infos} info finding(s): `harness lint` shows them")
    return "\n".join(lines)


def _experiment_text(item: ExperimentLint) -> str:
    lines = [f"== {item.name} ({_where(item.location)}), against {item.mesh}"]
    for finding in item.sorted_findings():
        lines.append(f"{_where(finding.location)}: {finding.code} {finding.severity.value}: {finding.message}")
        if finding.object:
            located = f" ({_where(finding.object_location)})" if finding.object_location else ""
            lines.append(f"    object: {finding.object}{located}")
        lines.append(f"    why: {finding.rule.why} [{finding.rule.reference}]")
        lines.append(f"    fix: {finding.suggested_fix}")
    if not item.findings:
        lines.append("no findings")
    lines += [f"  note: {note}" for note in item.notes]
    return "\n".join(lines)


def _location_json(location: Location | None) -> dict[str, Any] | None:
    if location is None:
        return None
    return {"file": display_path(location.path), "line": location.line, "column": location.column}


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {"code": finding.code, "rule": finding.rule.name, "severity": finding.severity.value,
            "message": finding.message, **(_location_json(finding.location) or {}), "field": finding.field,
            "object": finding.object, "object_location": _location_json(finding.object_location),
            "why": finding.rule.why, "reference": finding.rule.reference, "fix": finding.suggested_fix}


def render_json(report: LintReport) -> str:
    return json.dumps({
        "experiments": [{"name": item.name, **(_location_json(item.location) or {}), "mesh": item.mesh,
                         "findings": [_finding_json(f) for f in item.sorted_findings()], "notes": list(item.notes)}
                        for item in report.experiments],
        "summary": {s.value: report.count(s) for s in Severity},
    }, indent=2)


def _sarif_location(location: Location, message: str | None = None) -> dict[str, Any]:
    region: dict[str, Any] = {"startLine": location.line or 1}
    if location.column is not None:
        region["startColumn"] = location.column
    found: dict[str, Any] = {"physicalLocation": {"artifactLocation": {"uri": _uri(location.path)}, "region": region}}
    if message:
        found["message"] = {"text": message}
    return found


def _uri(path: Path | None) -> str:
    if path is None:
        return "unknown"
    shown = display_path(path)
    return shown if not Path(shown).is_absolute() else path.resolve().as_uri()


def _sarif_rule(code: str) -> dict[str, Any]:
    rule = RULES[code]
    out: dict[str, Any] = {
        "id": rule.code, "name": rule.name,
        "shortDescription": {"text": rule.summary}, "fullDescription": {"text": rule.why},
        "help": {"text": f"{rule.why} See {rule.reference}. Fix: {rule.fix}."},
        "defaultConfiguration": {"level": SARIF_LEVELS[rule.severity]},
    }
    if rule.reference.startswith("https://"):
        out["helpUri"] = rule.reference
    return out


def render_sarif(report: LintReport) -> dict[str, Any]:
    """A minimal valid SARIF 2.1.0 log: one run, every rule, one result per finding."""
    codes = list(RULES)
    results = []
    for finding in report.findings:
        result: dict[str, Any] = {
            "ruleId": finding.code, "ruleIndex": codes.index(finding.code), "level": SARIF_LEVELS[finding.severity],
            "message": {"text": f"{finding.message}. Why: {finding.rule.why} Fix: {finding.suggested_fix}."},
            "locations": [_sarif_location(finding.location)],
        }
        if finding.object_location is not None:
            result["relatedLocations"] = [{"id": 1, **_sarif_location(finding.object_location, finding.object)}]
        results.append(result)
    return {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [{
        "tool": {"driver": {"name": "harness lint", "rules": [_sarif_rule(c) for c in codes]}},
        "results": results}]}


def rules_table() -> str:
    """Every code, its usual severity and what it finds (for ``harness lint --help`` and the README)."""
    return "\n".join(f"{r.code} {r.severity.value:7} {r.summary}" for r in RULES.values())
