"""Alert guardrails as verdicts: FAIL when a matching alert fires, INCONCLUSIVE when Alertmanager cannot be asked.

The runner treats both as a reason to revert early. An Alertmanager that does not answer is a safety
net that cannot see: the fault stays in only while something can still say it should come out
("fail safe"), so the run reverts and ends ABORTED with the reason, rather than breaking on blind.
One failed request is retried once after half a second before it counts, so a single dropped
connection does not end a game day.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from harness.alerts._client import URL_HINT, Alert, Alertmanager
from harness.errors import AlertsError, HarnessError
from harness.experiment import AlertGuardrail, Experiment
from harness.verdict import Outcome, Verdict

ATTEMPTS = 2
RETRY_AFTER_S = 0.5
MEASURE = "alert"
ALERT_SOURCE = "alertmanager"
SAFE_HINT = ("breaking a system that is already alerting is unsafe and its verdicts would mean little: wait until the "
             "alert resolves, or silence it in Alertmanager if it is known and unrelated to this experiment")


def firing_now(guardrail: AlertGuardrail, alertmanager: Alertmanager, *, attempts: int = ATTEMPTS,
               retry_after_s: float = RETRY_AFTER_S) -> list[Alert]:
    """The alerts matching the guardrail now; AlertsError once every attempt failed."""
    for attempt in range(1, attempts + 1):
        try:
            return alertmanager.firing(guardrail.matchers)
        except AlertsError:
            if attempt == attempts:
                raise
            time.sleep(retry_after_s)
    raise AssertionError("unreachable")  # pragma: no cover


def judge_alert(guardrail: AlertGuardrail, alertmanager: Alertmanager, *, phase: str = "fault") -> Verdict:
    """The guardrail's verdict now: PASS (quiet), FAIL (firing, each alert named) or INCONCLUSIVE (cannot see)."""
    try:
        alerts = firing_now(guardrail, alertmanager)
    except AlertsError as exc:
        return _verdict(guardrail, alertmanager, Outcome.INCONCLUSIVE,
                        f"cannot see alerts (fail safe: reverted): {exc.message}", phase=phase)
    if not alerts:
        return _verdict(guardrail, alertmanager, Outcome.PASS, "no matching alert firing", phase=phase)
    return _verdict(guardrail, alertmanager, Outcome.FAIL, "alert firing: " + "; ".join(a.describe() for a in alerts),
                    phase=phase, alerts=alerts)


def _verdict(guardrail: AlertGuardrail, alertmanager: Alertmanager, outcome: Outcome, reason: str, *, phase: str,
             alerts: Sequence[Alert] = ()) -> Verdict:
    details: dict[str, object] = {"alertmanager": alertmanager.url}
    if alerts:
        details["alerts"] = [alert_record(a) for a in alerts]
    return Verdict(guardrail.name, outcome, reason, measure=MEASURE, source=ALERT_SOURCE, phase=phase,
                   value=None if outcome is Outcome.INCONCLUSIVE else float(len(alerts)), samples=len(alerts),
                   bound=f"no alert firing matching {guardrail.describe()}", query=guardrail.describe(),
                   details=details)


def refuse_if_firing(guardrails: Sequence[AlertGuardrail], alertmanager: Alertmanager, *, when: str) -> None:
    """Before the fault: raise, naming each alert, when any guardrail's alert already fires (nothing is injected)."""
    found = [(g, alerts) for g in guardrails if (alerts := firing_now(g, alertmanager))]
    if found:
        named = "; ".join(f"guardrail {g.name!r}: " + ", ".join(a.describe() for a in alerts) for g, alerts in found)
        raise HarnessError(f"{when}, an alert guardrail's alert is already firing ({named}); no fault was injected",
                           hint=SAFE_HINT)


def alert_record(alert: Alert) -> dict[str, object]:
    """What the journal keeps of a firing alert."""
    return {"labels": dict(alert.labels), "annotations": dict(alert.annotations), "startsAt": alert.starts_at,
            "fingerprint": alert.fingerprint}


def alert_guardrails(guardrails: Sequence[object]) -> list[AlertGuardrail]:
    return [g for g in guardrails if isinstance(g, AlertGuardrail)]


def open_alertmanager(experiment: Experiment, *, given: str | None = None, default: str | None = None,
                      token: str | None = None) -> Alertmanager | None:
    """The Alertmanager an experiment's alert guardrails ask (None without any), checked to answer.

    Where it is: ``given`` (--alertmanager-url), else the experiment's target.alertmanagerUrl, else
    ``default`` ($ALERTMANAGER_URL, or the sandbox's own Alertmanager).
    """
    if not alert_guardrails(experiment.guardrails):
        return None
    url = given or experiment.target.alertmanager_url or default
    if not url:
        names = ", ".join(repr(g.name) for g in alert_guardrails(experiment.guardrails))
        raise HarnessError(f"{experiment.metadata.name}: alert guardrail(s) {names} need an Alertmanager, and none is "
                           "set; nothing was injected", hint=URL_HINT)
    return Alertmanager(url, token=token)
