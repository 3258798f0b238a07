"""Grafana annotations: the fault window as one region, opened when the fault is active and closed at its revert.

``POST /api/annotations`` at activation (``time`` only: dashboards show the fault while it lasts), then
``PATCH /api/annotations/<id>`` with ``timeEnd`` at the revert; if the first post failed, the revert posts the
whole region at once. Times are epoch milliseconds, the run's confirmed fault window.
"""

from __future__ import annotations

from typing import Any

from harness.notify._events import Event, EventKind, epoch_ms
from harness.notify._senders import Sender, public_url, send_json


class GrafanaSender(Sender):
    def __init__(self, url: str, *, token: str | None, tags: list[str], dashboard_uid: str | None,
                 panel_id: int | None) -> None:
        super().__init__(f"grafana {public_url(url)}")
        self._api = url.rstrip("/") + "/api/annotations"
        self._token, self._tags, self._dashboard_uid, self._panel_id = token, tags, dashboard_uid, panel_id
        self._annotation_id: int | None = None  # the region opened at activation, closed at the revert

    def wants(self, event: Event) -> bool:
        return event.kind in (EventKind.FAULT_STARTED, EventKind.FAULT_ENDED)

    def send(self, event: Event) -> None:
        body = annotation_body(event, tags=self._tags, dashboard_uid=self._dashboard_uid, panel_id=self._panel_id)
        if event.kind is EventKind.FAULT_ENDED and self._annotation_id is not None:
            send_json(f"{self._api}/{self._annotation_id}", body, method="PATCH", token=self._token)
            return
        answer = send_json(self._api, body, token=self._token)
        if event.kind is EventKind.FAULT_STARTED and isinstance(answer, dict) and isinstance(answer.get("id"), int):
            self._annotation_id = answer["id"]


def annotation_body(event: Event, *, tags: list[str], dashboard_uid: str | None = None,
                    panel_id: int | None = None) -> dict[str, Any]:
    """Grafana's annotation fields for the fault window as far as ``event`` knows it."""
    run = event.run
    text = f"chaos: {run.experiment} (run {run.run_id}): {'; '.join(run.faults)}"
    if event.fault_end is not None and event.fault_start is not None:
        text += f"; reverted after {event.fault_end - event.fault_start:.1f} s"
    elif event.activation_latency_s is not None:
        text += f"; active {event.activation_latency_s * 1000:.0f} ms after the write"
    body: dict[str, Any] = {"time": epoch_ms(event.fault_start), "tags": [*tags, run.experiment, f"run:{run.run_id}"],
                            "text": text}
    if event.fault_end is not None:
        body["timeEnd"] = epoch_ms(event.fault_end)
    if dashboard_uid:
        body["dashboardUID"] = dashboard_uid
    if panel_id is not None:
        body["panelId"] = panel_id
    return body
