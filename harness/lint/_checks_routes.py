"""HL1xx: a fault against the timeout and retries of its own route, and retry policies that cannot work."""

from __future__ import annotations

from collections.abc import Iterator

from harness.experiment import Hypothesis
from harness.istio import RouteChoice
from harness.lint._context import LintContext, describe_route, is_chaos, route_location
from harness.lint._estimates import (
    AS_CONFIGURED,
    QUANTILES,
    Assumptions,
    cohorts_of,
    delayed_latency_s,
    ejects_all,
    extensions,
    failed_share,
    failing_in,
    outlier_for,
    routes_along,
    units_of,
)
from harness.lint._findings import Finding
from harness.lint._traffic import Chain


def check_routes(ctx: LintContext) -> list[Finding]:
    findings = [*_delay_not_cut(ctx), *_aborts_not_retried(ctx), *_failures_not_retried(ctx)]
    return findings + _retry_budgets(ctx)


def _fault_phase(ctx: LintContext) -> Iterator[tuple[int, Hypothesis]]:
    for index, h in enumerate(ctx.exp.hypotheses):
        if h.phase == "fault" and h.versus is None:
            yield index, h


def _fault_path(ctx: LintContext, route: RouteChoice, kind: str) -> tuple[str | int, ...] | None:
    """The experiment's fault that put ``kind`` (delay/abort) on this route; None for a fault already there."""
    if not is_chaos(route):
        return None
    for target in ctx.view.targets:
        fault = target.fault
        if target.host == route.host and getattr(fault, kind) is not None:
            return ("faults", target.index, kind)
    return None


Relied = dict[str, tuple[RouteChoice, float]]  # delayed routes a bound relies on, with the latency they really give


def _delay_not_cut(ctx: LintContext) -> list[Finding]:
    """HL101: a latency bound that holds only if the delayed route's own timeout cut the delay."""
    findings = []
    for index, h in _fault_phase(ctx):
        if h.measure not in QUANTILES or h.below is None:
            continue
        share, relied = _slow_share(ctx, h, h.below / 1000)
        if share <= 1 - QUANTILES[h.measure]:
            continue  # the delayed calls are too few to move this quantile
        for where, (route, latency) in relied.items():
            fault = route.fault
            assert fault is not None and route.timeout_s is not None
            findings.append(ctx.finding(
                "HL101",
                f"hypothesis {h.name!r} ({h.measure} below {h.below:g} ms) holds only if the {fault.delay_s:g}s delay "
                f"on {route.host.split('.')[0]} were cut by the {route.timeout_s:g}s timeout of the same route, "
                f"{where}; Envoy does not cut it, so about {share:.0%} of {_counted(h)} take ~{latency:g}s",
                _fault_path(ctx, route, "delay") or ("hypotheses", index, "below"),
                obj=f"{where}: timeout {route.timeout_s:g}s", object_location=route_location(ctx, route, "timeout")))
    return findings


def _slow_share(ctx: LintContext, h: Hypothesis, bound_s: float) -> tuple[float, Relied]:
    """The share of what ``h`` counts that delays leave above ``bound_s``, and the delayed routes whose own
    timeout would have kept them under it."""
    slow = total = 0.0
    relied: Relied = {}
    for cohort in cohorts_of(ctx.exp, h):
        for unit in units_of(ctx.view, h):
            start, worst = len(unit.hops) - 1, 0.0
            for chain in extensions(ctx.view, unit):
                routes = routes_along(ctx.view, chain, cohort.headers)
                latency, share = delayed_latency_s(chain, routes, start)
                if latency <= bound_s:
                    continue
                worst = max(worst, share)
                believed, _ = delayed_latency_s(chain, routes, start, own_timeout_cuts_delay=True)
                if believed <= bound_s:
                    for route in _delayed_beyond_own_timeout(routes[start:]):
                        relied.setdefault(describe_route(route), (route, latency))
            slow += cohort.weight * unit.share * worst
            total += cohort.weight * unit.share
    return (slow / total if total else 0.0), relied


def _counted(h: Hypothesis) -> str:
    return "the requests it counts" if h.source == "client" else f"the calls to {h.service} it counts"


def _delayed_beyond_own_timeout(routes: list[RouteChoice | None]) -> list[RouteChoice]:
    found = []
    for route in routes:
        fault = route.fault if route is not None else None
        if route is not None and fault is not None and fault.delays and route.timeout_s is not None \
                and route.timeout_s < fault.delay_s:
            found.append(route)
    return found


def _error_bound(h: Hypothesis) -> float | None:
    """The error share a hypothesis allows, when it expects errors to stay low."""
    if h.measure == "error_rate" and h.below is not None:
        return h.below
    if h.measure == "success_rate" and h.above is not None:
        return 1 - h.above
    return None


Seen = list[tuple[Chain, list[RouteChoice | None], int]]  # each chain, its routes, and the hop a hypothesis counts


def _failed(ctx: LintContext, h: Hypothesis, assume: Assumptions = AS_CONFIGURED) -> tuple[float, Seen]:
    """The expected failed share of what ``h`` counts, and every chain with its routes (for naming causes)."""
    failed = total = 0.0
    seen: Seen = []
    for cohort in cohorts_of(ctx.exp, h):
        for unit in units_of(ctx.view, h):
            start, worst = len(unit.hops) - 1, 0.0
            for chain in extensions(ctx.view, unit):
                routes = routes_along(ctx.view, chain, cohort.headers)
                worst = max(worst, failed_share(ctx.view, ctx.exp, chain, routes, start, assume))
                seen.append((chain, routes, start))
            failed += cohort.weight * unit.share * worst
            total += cohort.weight * unit.share
    return (failed / total if total else 0.0), seen


def _aborts_not_retried(ctx: LintContext) -> list[Finding]:
    """HL102: retries expected to mask injected aborts on their own route, or to count them."""
    findings = []
    for index, h in _fault_phase(ctx):
        if h.measure == "retries" and h.above is not None and h.service:
            findings += _retries_from_aborts(ctx, index, h)
        bound = _error_bound(h)
        if bound is None:
            continue
        share, seen = _failed(ctx, h)
        believed, _ = _failed(ctx, h, Assumptions(retry_injected_aborts=True))
        if share <= bound or believed > bound:
            continue
        named: set[str] = set()
        for _, routes, start in seen:
            for route in routes[start:]:
                fault, retry = (route.fault, route.retry) if route is not None else (None, None)
                if route is None or fault is None or not fault.aborts or retry is None or fault.abort_status is None \
                        or not retry.retries_status(fault.abort_status) or describe_route(route) in named:
                    continue
                named.add(describe_route(route))
                findings.append(ctx.finding(
                    "HL102",
                    f"hypothesis {h.name!r} ({h.measure} {'below' if h.below is not None else 'above'} "
                    f"{h.below if h.below is not None else h.above:g}) holds only if {describe_route(route)} retried "
                    f"the injected {fault.abort_status} aborts ({retry.describe()}); Envoy never retries them, so "
                    f"about {share:.1%} of {_counted(h)} fail",
                    _fault_path(ctx, route, "abort") or ("hypotheses", index, "below"),
                    obj=f"{describe_route(route)}: {retry.describe()}",
                    object_location=route_location(ctx, route, "retries")))
    return findings


def _retries_from_aborts(ctx: LintContext, index: int, h: Hypothesis) -> list[Finding]:
    assert h.service is not None
    service = ctx.view.service_of(ctx.view.fqdn(h.service))
    aborts = [t for t in ctx.view.targets if ctx.view.service_of(t.host) == service and t.fault.abort is not None]
    if not aborts or any(f.service == service and f.error_rate for f in ctx.exp.failures):
        return []
    target = aborts[0]
    return [ctx.finding(
        "HL102",
        f"hypothesis {h.name!r} expects retries toward {service}, but its only failures are the injected aborts of "
        f"faults[{target.index}], which no proxy retries on the route they are injected on",
        ("hypotheses", index, "measure"),
        obj=f"the route to {service} that faults[{target.index}] is merged into",
        fix="make a replica really fail (failures: errorRate) or put the abort on the next hop to make retries "
            "happen; or drop the hypothesis")]


def _failures_not_retried(ctx: LintContext) -> list[Finding]:
    """HL103/HL104: real failures that a hypothesis expects masked, on routes that cannot retry them."""
    findings = []
    for index, h in _fault_phase(ctx):
        bound = _error_bound(h)
        if bound is None or not ctx.exp.failures:
            continue
        share, seen = _failed(ctx, h)
        if share <= bound:
            continue
        named: set[str] = set()
        for chain, routes, start in seen:
            for hop, route in zip(chain.hops[start:], routes[start:], strict=True):
                causes = _unretried(ctx, route, hop.service)
                if route is None or causes is None or describe_route(route) in named:
                    continue
                named.add(describe_route(route))
                code, retry_text, outlier_text, status = causes
                findings.append(ctx.finding(
                    code,
                    f"hypothesis {h.name!r} ({h.measure} {'below' if h.below is not None else 'above'} "
                    f"{h.below if h.below is not None else h.above:g}) needs the failures of {hop.service} masked, but "
                    f"{describe_route(route)} {retry_text} and {outlier_text}: about {share:.1%} of {_counted(h)} fail",
                    ("hypotheses", index, "below" if h.below is not None else "above"),
                    obj=f"{describe_route(route)}: {route.retry.describe() if route.retry else 'retries off'}",
                    object_location=route_location(ctx, route, "retries"),
                    fix=None if code == "HL103" else f"add {status} (or 5xx) to retries.retryOn of {describe_route(route)}"))
    return findings


def _unretried(ctx: LintContext, route: RouteChoice | None, service: str) -> tuple[str, str, str, int] | None:
    """Why a route does not retry the failures of ``service``: (code, what its retries do, outlier detection)."""
    if route is None:
        return None
    for destination in route.destinations:
        failing = failing_in(ctx.view, ctx.exp, service, destination.subset, destination.host)
        if failing is None:
            continue
        outlier = outlier_for(ctx.view, route, destination.subset, destination.port)
        if ejects_all(outlier, failing):
            continue
        od = ("has no outlier detection" if outlier is None else
              f"its outlier detection cannot eject {failing.failing} of {failing.hosts} hosts "
              f"(maxEjectionPercent {outlier.max_ejection_percent}%)")
        retry = route.retry
        if retry is None:
            return "HL103", "has retries off (attempts: 0)", od, failing.status
        if not retry.retries_status(failing.status):
            what = "Istio's default retry policy" if retry.is_default else f"retryOn {','.join(sorted(retry.retry_on))}"
            return "HL104", f"does not retry {failing.status} ({what})", od, failing.status
    return None


def _retry_budgets(ctx: LintContext) -> list[Finding]:
    """HL105/HL106: per-try timeouts that never fire, and attempts that the route timeout cuts."""
    findings, seen = [], set()
    for chain in ctx.view.chains:
        for hop, route in zip(chain.hops, routes_along(ctx.view, chain, ctx.exp.load.headers), strict=True):
            if route is None or route.retry is None or route.timeout_s is None or is_chaos(route):
                continue
            retry, timeout = route.retry, route.timeout_s
            where = describe_route(route)
            if retry.per_try_timeout_s is None or where in seen:
                continue
            seen.add(where)
            path = ctx.service_path(hop.service)
            if retry.per_try_timeout_s >= timeout:
                findings.append(ctx.finding(
                    "HL105", f"{where} has perTryTimeout {retry.per_try_timeout_s:g}s, not below its timeout "
                    f"{timeout:g}s: no try ends before the whole call times out", path,
                    obj=f"{where}: {retry.describe()}, timeout {timeout:g}s",
                    object_location=route_location(ctx, route, "retries", "perTryTimeout")))
            elif (retry.attempts + 1) * retry.per_try_timeout_s > timeout:
                fits = int(timeout // retry.per_try_timeout_s)
                findings.append(ctx.finding(
                    "HL106", f"{where} allows {retry.attempts + 1} tries of {retry.per_try_timeout_s:g}s but its "
                    f"timeout {timeout:g}s holds {fits}: the later retries are cut with 504 UT", path,
                    obj=f"{where}: {retry.describe()}, timeout {timeout:g}s",
                    object_location=route_location(ctx, route, "timeout")))
    return findings
