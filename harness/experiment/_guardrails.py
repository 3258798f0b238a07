"""Guardrails that watch Alertmanager: a firing alert matching label matchers stops the fault phase.

An alert guardrail is written as ``{name: ..., alert: {alertname: X, severity: critical}}``. Each label's
value is a matcher as Alertmanager's own API filter reads it: ``critical`` (equal), ``=~crit.*|page``
(regular expression, anchored), ``!=info`` and ``!~info|debug``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import Field, field_validator

from harness.experiment._base import Model

LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
Operator = Literal["=", "!=", "=~", "!~"]
_PREFIXES: tuple[Operator, ...] = ("=~", "!~", "!=")  # checked in this order: "=~x" must not read as "=" "~x"


@dataclass(frozen=True)
class Matcher:
    """One label matcher: ``name op value``, as Alertmanager's ``filter`` parameter takes it."""

    name: str
    op: Operator
    value: str

    @classmethod
    def parse(cls, name: str, written: str) -> Matcher:
        for op in _PREFIXES:
            if written.startswith(op):
                return cls(name, op, written[len(op):])
        return cls(name, "=", written)

    def filter(self) -> str:
        """The matcher in Alertmanager's filter syntax: ``severity=~"crit.*"`` (value quoted and escaped)."""
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op}"{escaped}"'

    def matches(self, labels: dict[str, str]) -> bool:
        """Alertmanager's semantics: a missing label is the empty string; regular expressions are anchored."""
        value = labels.get(self.name, "")
        if self.op in ("=", "!="):
            return (value == self.value) == (self.op == "=")
        return (re.fullmatch(self.value, value) is not None) == (self.op == "=~")

    def __str__(self) -> str:
        return self.filter()


class AlertGuardrail(Model):
    """Stop the fault phase (revert, run ABORTED) when an alert matching every label matcher fires."""

    name: str = Field(min_length=1)
    alert: dict[str, str] = Field(description="label matchers, e.g. {alertname: FrontendErrorBudgetBurn, severity: "
                                  "critical}; a value may start with =~ (regex), != or !~, as in Alertmanager")

    @field_validator("alert")
    @classmethod
    def _matchers_valid(cls, alert: dict[str, str]) -> dict[str, str]:
        if not alert:
            raise ValueError("an alert guardrail needs at least one label matcher, e.g. {alertname: MyAlert}")
        for name, written in alert.items():
            if not LABEL_NAME.match(name):
                raise ValueError(f"{name!r} is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*)")
            matcher = Matcher.parse(name, written)
            if matcher.op in ("=~", "!~"):
                try:
                    re.compile(matcher.value)
                except re.error as exc:
                    raise ValueError(f"{name}: {matcher.value!r} is not a regular expression: {exc}") from None
        matchers = [Matcher.parse(name, written) for name, written in alert.items()]
        if not any(m.op in ("=", "=~") and m.value for m in matchers):
            raise ValueError("every matcher is negative or empty, so it would match almost any alert; name the "
                             "alert with a positive matcher such as alertname: MyAlert")
        return alert

    @property
    def matchers(self) -> tuple[Matcher, ...]:
        return tuple(Matcher.parse(name, written) for name, written in self.alert.items())

    def describe(self) -> str:
        """The matchers as Alertmanager writes a selector: ``{alertname="X", severity="critical"}``."""
        return "{" + ", ".join(m.filter() for m in self.matchers) + "}"


def guardrail_kind(value: object) -> str:
    """Which guardrail a YAML entry is: an alert guardrail when it has ``alert``, else a hypothesis.

    The tags carry brackets so that file:line errors leave them out of the field path (harness/_yamlsource.py).
    """
    if isinstance(value, dict):
        return ALERT_TAG if "alert" in value else HYPOTHESIS_TAG
    return ALERT_TAG if isinstance(value, AlertGuardrail) else HYPOTHESIS_TAG


ALERT_TAG = "guardrail[alert]"
HYPOTHESIS_TAG = "guardrail[hypothesis]"
