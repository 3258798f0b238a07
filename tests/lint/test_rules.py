"""The codes are stable, each cites its source, and the README lists every one."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.lint import RULES
from harness.lint._rules import REFERENCE_DOC

ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / REFERENCE_DOC


def github_anchor(heading: str) -> str:
    """The anchor GitHub gives a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_codes_are_stable_names() -> None:
    assert all(re.fullmatch(r"HL[1-6]\d\d", code) for code in RULES)
    assert len({r.name for r in RULES.values()}) == len(RULES)
    for rule in RULES.values():
        assert rule.why.endswith(".") and rule.why.count(". ") <= 1, rule.code  # one sentence
        assert rule.fix and rule.summary and rule.reference


@pytest.mark.skipif(not REFERENCE.exists(), reason="the semantics reference lives outside the repository")
def test_every_reference_anchor_exists_in_the_semantics_reference() -> None:
    anchors = {github_anchor(line.lstrip("#")) for line in REFERENCE.read_text().splitlines() if line.startswith("#")}
    cited = {r.reference.split("#", 1)[1] for r in RULES.values()
             if r.reference.split(": ", 1)[-1].startswith(REFERENCE_DOC)}
    assert cited and cited <= anchors


def test_the_readme_lists_every_code() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "harness lint" in readme
    for code, rule in RULES.items():
        assert f"| {code} | {rule.severity.value} |" in readme, code
