"""HL5xx: mesh hypotheses whose window holds too few scrapes (harness/experiment/_windows.py decides)."""

from __future__ import annotations

from harness.experiment._windows import too_short
from harness.istio import parse_duration_s
from harness.lint._context import LintContext
from harness.lint._findings import Finding

PROMETHEUS_DEFAULT_SCRAPE_S = 15.0  # Prometheus's global scrape_interval when its config sets none


def check_windows(ctx: LintContext) -> list[Finding]:
    exp = ctx.exp
    if exp.target.scrape_interval:
        interval, known = parse_duration_s(exp.target.scrape_interval), f"target.scrapeInterval {exp.target.scrape_interval}"
    elif ctx.scrape_interval_s is not None:
        interval, known = ctx.scrape_interval_s, f"the running sandbox scrapes every {ctx.scrape_interval_s:g}s"
    else:
        interval, known = PROMETHEUS_DEFAULT_SCRAPE_S, None
    findings = []
    for index, h in enumerate(exp.hypotheses):
        why = too_short(h, exp.phases, interval)
        if why is None:
            continue
        field = "within" if h.within else "after" if h.after else "phase"
        if known:
            findings.append(ctx.finding("HL501", f"{why} ({known}): hypothesis {h.name!r} will be INCONCLUSIVE",
                                        ("hypotheses", index, field)))
        else:
            findings.append(ctx.finding("HL502", f"{why} at Prometheus's default interval (target.scrapeInterval "
                                        f"is not set): hypothesis {h.name!r} would be INCONCLUSIVE there",
                                        ("hypotheses", index, field)))
    return findings
