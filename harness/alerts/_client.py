"""An Alertmanager client over its v2 API: which alerts fire now, matching label matchers.

Only alerts that are active and neither silenced nor inhibited count: a silence is an SRE's
deliberate "we know", and an inhibited alert is covered by a louder one that fires anyway.
Third-party failures (refused connections, timeouts, HTTP errors, answers that are not the v2
API) become ``AlertsError`` here and nowhere else.
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.errors import AlertsError
from harness.experiment import Matcher

TIMEOUT_S = 2.0
URL_HINT = ("check target.alertmanagerUrl, --alertmanager-url or $ALERTMANAGER_URL (e.g. http://alertmanager:9093), "
            "or start the sandbox's own with 'harness sandbox up --alertmanager'")


@dataclass(frozen=True)
class Alert:
    """One alert as Alertmanager holds it."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: str = ""  # RFC 3339, as Alertmanager writes it
    fingerprint: str = ""
    state: str = "active"

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "<no alertname>")

    def describe(self) -> str:
        """``FrontendErrorBudgetBurn{severity="critical"} firing since 2025-01-01T10:00:00Z: the summary``."""
        others = ", ".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()) if k != "alertname")
        text = f"{self.name}{{{others}}} firing since {self.starts_at or 'an unknown time'}"
        summary = self.annotations.get("summary") or self.annotations.get("description")
        return f"{text}: {summary}" if summary else text

    @classmethod
    def from_api(cls, item: Any) -> Alert:
        if not isinstance(item, dict) or not isinstance(item.get("labels"), dict):
            raise AlertsError(f"Alertmanager answered an alert without labels: {str(item)[:200]}")
        status = item.get("status")
        state = status.get("state") if isinstance(status, dict) else None
        return cls({str(k): str(v) for k, v in item["labels"].items()},
                   {str(k): str(v) for k, v in (item.get("annotations") or {}).items()},
                   str(item.get("startsAt") or ""), str(item.get("fingerprint") or ""),
                   str(state or "active"))


class Alertmanager:
    """Alertmanager at ``url`` (its v2 API), with a timeout on every request."""

    def __init__(self, url: str, *, timeout_s: float = TIMEOUT_S, token: str | None = None) -> None:
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._token = token

    def check(self) -> str:
        """Ask for Alertmanager's status; return its version. Raises AlertsError with a hint when it cannot."""
        status = self._get("/api/v2/status")
        if not isinstance(status, dict) or "versionInfo" not in status:
            raise AlertsError(f"{self.url} answered /api/v2/status without versionInfo: is it Alertmanager (0.16+)?",
                              hint=URL_HINT)
        return str((status.get("versionInfo") or {}).get("version", "unknown"))

    def firing(self, matchers: Sequence[Matcher]) -> list[Alert]:
        """Active, unsilenced, uninhibited alerts matching every matcher (filtered by Alertmanager, checked here)."""
        params = [("active", "true"), ("silenced", "false"), ("inhibited", "false")]
        params += [("filter", m.filter()) for m in matchers]
        answer = self._get("/api/v2/alerts?" + urllib.parse.urlencode(params))
        if not isinstance(answer, list):
            raise AlertsError(f"{self.url} answered /api/v2/alerts with {type(answer).__name__}, not a list of alerts",
                              hint=URL_HINT)
        alerts = [Alert.from_api(item) for item in answer]
        # Alertmanager filtered already; checking again costs nothing and guards against a proxy that drops params
        return [a for a in alerts if a.state == "active" and all(m.matches(dict(a.labels)) for m in matchers)]

    def _get(self, path: str) -> Any:
        request = urllib.request.Request(self.url + path, headers={"accept": "application/json"})
        if self._token:
            request.add_header("authorization", f"Bearer {self._token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                body = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode("utf-8", "replace").strip()[:300]
            raise AlertsError(f"Alertmanager at {self.url} answered {exc.code} to GET {path.split('?')[0]}: {detail}",
                              hint=URL_HINT if exc.code in (401, 403, 404) else None) from None
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timed out (URLError is an OSError)
            reason = getattr(exc, "reason", None) or exc
            if isinstance(reason, TimeoutError):
                reason = f"no answer within {self.timeout_s:g} s"
            raise AlertsError(f"Alertmanager at {self.url} cannot be reached: {reason}", hint=URL_HINT) from None
        try:
            return json.loads(body)
        except ValueError:
            raise AlertsError(f"Alertmanager at {self.url} answered {path.split('?')[0]} with something that is not "
                              f"JSON: {body[:120]!r}", hint=URL_HINT) from None
