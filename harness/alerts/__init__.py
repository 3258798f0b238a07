"""Stop conditions from Alertmanager: a client for its v2 API and alert guardrails judged as verdicts."""

from harness.alerts._client import TIMEOUT_S, URL_HINT, Alert, Alertmanager
from harness.alerts._guardrail import (
    ALERT_SOURCE,
    ATTEMPTS,
    RETRY_AFTER_S,
    alert_guardrails,
    judge_alert,
    open_alertmanager,
    refuse_if_firing,
)

__all__ = ["ALERT_SOURCE", "ATTEMPTS", "RETRY_AFTER_S", "TIMEOUT_S", "URL_HINT", "Alert", "Alertmanager",
           "alert_guardrails", "judge_alert", "open_alertmanager", "refuse_if_firing"]
