"""Slack incoming-webhook messages: ``text`` (what the notification shows) and ``blocks``, the verdict first."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from harness.notify._events import Event, EventKind, VerdictLine
from harness.notify._senders import Sender, public_url, send_json

MAX_VERDICT_LINES = 10  # a message people read in a channel; the report has the rest
MAX_REASON_CHARS = 160
MARKS = {"PASS": ":white_check_mark:", "FAIL": ":x:", "INCONCLUSIVE": ":grey_question:"}


class SlackSender(Sender):
    def __init__(self, url: str, *, events: Iterable[str]) -> None:
        super().__init__(f"slack {public_url(url)}")
        self._url, self._events = url, frozenset(events)

    def wants(self, event: Event) -> bool:
        return event.kind.value in self._events

    def send(self, event: Event) -> None:
        send_json(self._url, slack_payload(event))


def slack_payload(event: Event) -> dict[str, Any]:
    """One short message: a headline (the verdict when there is one), verdict lines, then where the report is."""
    headline = _headline(event)
    blocks: list[dict[str, Any]] = [_section(f"*{escape(headline)}*")]
    if event.verdicts:
        blocks.append(_section(_verdict_lines(event.verdicts)))
    if event.error:
        blocks.append(_section(f"error: {escape(_short(event.error, 400))}"))
    context = [f"report: `{escape(event.run.report)}`", f"owner: {escape(event.run.owner)}"]
    if event.kind in (EventKind.RUN_STARTED, EventKind.FAULT_STARTED):
        context.insert(0, escape("; ".join(event.run.faults)))
    blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]})
    return {"text": headline, "blocks": blocks}


def _headline(event: Event) -> str:
    run = f"{event.run.experiment} (run {event.run.run_id})"
    if event.kind is EventKind.RUN_FINISHED:
        how = "" if event.status in ("completed", None) else f", run {event.status}"
        return f"{event.outcome} {run}: {_tally(event.verdicts)}{how}"
    if event.kind is EventKind.VERDICTS:
        return f"{_worst(event.verdicts)} {run}: {_tally(event.verdicts)}"
    if event.kind is EventKind.FAULT_STARTED:
        after = f" after {event.activation_latency_s * 1000:.0f} ms" if event.activation_latency_s is not None else ""
        return f"fault active{after}: {run}"
    if event.kind is EventKind.FAULT_ENDED:
        lasted = (event.fault_end or event.at) - (event.fault_start or event.at)
        return f"fault reverted after {lasted:.1f} s: {run}"
    return f"chaos run started: {run}"


def _tally(verdicts: tuple[VerdictLine, ...]) -> str:
    if not verdicts:
        return "no verdicts"
    counts = {o: sum(v.outcome == o for v in verdicts) for o in MARKS}
    return ", ".join(f"{n} {o}" for o, n in counts.items() if n)


def _worst(verdicts: tuple[VerdictLine, ...]) -> str:
    """FAIL beats INCONCLUSIVE beats PASS, as a run's outcome is decided."""
    outcomes = {v.outcome for v in verdicts}
    return next((o for o in ("FAIL", "INCONCLUSIVE") if o in outcomes), "PASS" if outcomes else "INCONCLUSIVE")


def _verdict_lines(verdicts: tuple[VerdictLine, ...]) -> str:
    shown = sorted(verdicts, key=lambda v: ("FAIL", "INCONCLUSIVE", "PASS").index(v.outcome)
                   if v.outcome in MARKS else 3)[:MAX_VERDICT_LINES]  # failures first: they are the news
    lines = [f"{MARKS.get(v.outcome, '')} *{escape(v.name)}* {v.outcome}: {escape(_short(v.reason, MAX_REASON_CHARS))}"
             for v in shown]
    if len(verdicts) > len(shown):
        lines.append(f"… and {len(verdicts) - len(shown)} more in the report")
    return "\n".join(lines)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def _short(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def escape(text: str) -> str:
    """Slack's mrkdwn reserves &, < and > (links and mentions)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
