"""What lint reports: findings with a stable code, grouped per experiment, and the exit code they imply."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from harness._exitcodes import ExitCode
from harness.errors import Location


class Severity(enum.Enum):
    ERROR = "error"      # the experiment cannot show what it claims: a hypothesis will fail or never apply
    WARNING = "warning"  # likely wrong, or right only by luck
    INFO = "info"        # worth knowing; nothing to fix for sure

    @property
    def rank(self) -> int:
        return {"error": 0, "warning": 1, "info": 2}[self.value]


@dataclass(frozen=True)
class Rule:
    """One kind of finding: its code, name, usual severity, the semantics behind it and where they are written."""

    code: str
    name: str
    severity: Severity
    summary: str
    why: str
    reference: str
    fix: str


@dataclass(frozen=True)
class Finding:
    rule: Rule
    severity: Severity
    message: str
    location: Location               # the experiment field involved
    field: str                       # that field, as users write it: hypotheses[0].below
    object: str | None = None        # the live (or policy) object involved
    object_location: Location | None = None  # where that object is written, when it comes from a policy file
    fix: str | None = None           # a fix specific to this finding; the rule's otherwise

    @property
    def code(self) -> str:
        return self.rule.code

    @property
    def suggested_fix(self) -> str:
        return self.fix or self.rule.fix


@dataclass(frozen=True)
class ExperimentLint:
    """The findings for one experiment, and what lint read to get them or could not check."""

    name: str
    location: Location
    mesh: str                         # what the mesh view came from
    findings: tuple[Finding, ...] = ()
    notes: tuple[str, ...] = ()

    def sorted_findings(self) -> list[Finding]:
        return sorted(self.findings, key=lambda f: (f.location.line or 0, f.severity.rank, f.code))


@dataclass(frozen=True)
class LintReport:
    experiments: tuple[ExperimentLint, ...] = field(default_factory=tuple)

    @property
    def findings(self) -> list[Finding]:
        return [f for e in self.experiments for f in e.findings]

    def count(self, severity: Severity) -> int:
        return sum(f.severity is severity for f in self.findings)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.FAILED if self.count(Severity.ERROR) else ExitCode.OK
