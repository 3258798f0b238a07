"""HL2xx: outlier detection that cannot eject, cannot be reached, is fed by injected faults, or outlasts a phase."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from harness.errors import Location
from harness.istio import Destination, Outlier, RouteChoice
from harness.lint._context import LintContext, describe_route
from harness.lint._estimates import Failing, failing_in, outlier_for, routes_along
from harness.lint._findings import Finding, Severity


@dataclass(frozen=True)
class FailingCluster:
    """A (subset) cluster of a failing service, as one client proxy sends to it."""

    service: str
    route: RouteChoice
    destination: Destination
    failing: Failing
    outlier: Outlier | None
    calls_per_s: float | None     # from the busiest client proxy to the cluster; None: load.rate not set

    @property
    def name(self) -> str:
        subset = f" subset {self.destination.subset}" if self.destination.subset else ""
        return f"{self.service}{subset} ({self.failing.hosts} endpoints)"


def check_outlier(ctx: LintContext) -> list[Finding]:
    clusters = list(_failing_clusters(ctx))
    return [*_cannot_eject(ctx, clusters), *_unreachable(ctx, clusters), *_from_injected(ctx),
            *_outlasts_recovery(ctx, clusters)]


def _failing_clusters(ctx: LintContext) -> Iterator[FailingCluster]:
    """Every cluster with failing replicas that the load's calls reach, once, with its busiest caller's rate."""
    rates: dict[tuple[str, str | None], dict[str, float]] = {}
    found: dict[tuple[str, str | None], FailingCluster] = {}
    for chain in ctx.view.chains:
        route = routes_along(ctx.view, chain, ctx.exp.load.headers)[-1]
        if route is None:
            continue
        service = chain.last.service
        for destination in route.destinations:
            failing = failing_in(ctx.view, ctx.exp, service, destination.subset, destination.host)
            if failing is None or not failing.failing:
                continue
            key = (service, destination.subset)
            found.setdefault(key, FailingCluster(service, route, destination, failing,
                                                 outlier_for(ctx.view, route, destination.subset, destination.port),
                                                 None))
            by_caller = rates.setdefault(key, {})
            by_caller[chain.last.caller.name] = by_caller.get(chain.last.caller.name, 0.0) + chain.share * \
                destination.share
    rate = ctx.exp.load.rate
    for key, cluster in found.items():
        busiest = max(rates[key].values(), default=0.0)
        yield FailingCluster(cluster.service, cluster.route, cluster.destination, cluster.failing, cluster.outlier,
                             rate * busiest if rate else None)


def _ejection_hypotheses(ctx: LintContext, service: str) -> list[int]:
    return [i for i, h in enumerate(ctx.exp.hypotheses)
            if h.measure == "ejections" and h.above is not None and h.service
            and ctx.view.service_of(ctx.view.fqdn(h.service)) == service]


def _failure_path(ctx: LintContext, service: str) -> tuple[str | int, ...]:
    hypotheses = _ejection_hypotheses(ctx, service)
    return ("hypotheses", hypotheses[0], "measure") if hypotheses else ctx.service_path(service)


def _dr(ctx: LintContext, cluster: FailingCluster, *field: str) -> tuple[str, Location | None]:
    rule = ctx.view.destination_rule(cluster.destination.host)
    if rule is None:
        return f"no DestinationRule for {cluster.service}", None
    ref = f"DestinationRule {rule.metadata.namespace}/{rule.metadata.name}"
    return ref, ctx.view.policy_location("DestinationRule", rule.metadata.namespace, rule.metadata.name,
                                         ("spec", "trafficPolicy", "outlierDetection", *field))


def _cannot_eject(ctx: LintContext, clusters: list[FailingCluster]) -> list[Finding]:
    """HL201: with this many endpoints and maxEjectionPercent (or no outlier detection), no host is ever ejected."""
    findings = []
    for cluster in clusters:
        outlier, hosts = cluster.outlier, cluster.failing.hosts
        expected = bool(_ejection_hypotheses(ctx, cluster.service))
        if outlier is not None and outlier.ejectable_hosts(hosts) >= 1:
            continue
        if outlier is None and not expected:
            continue  # nobody claims this cluster ejects; HL103/HL104 name what masks its failures
        ref, location = _dr(ctx, cluster, "maxEjectionPercent")
        if outlier is None:
            message = f"no outlier detection for {cluster.name}: the failing replica is never ejected"
            fix = f"add trafficPolicy.outlierDetection to {ref}" if ctx.view.destination_rule(
                cluster.destination.host) else f"create a DestinationRule with outlierDetection for {cluster.service}"
        else:
            default = "" if outlier.max_ejection_percent_set else ", Istio's default"
            needed = -(-100 // hosts) if hosts else 100
            message = (f"outlier detection of {cluster.name} never ejects: one ejected host is 100 / {hosts} = "
                       f"{100 / hosts:.0f}% of them, above maxEjectionPercent {outlier.max_ejection_percent}%{default}"
                       if hosts else f"{cluster.name} has no endpoints")
            fix = f"set outlierDetection.maxEjectionPercent: {needed} (or more) in {ref}"
        findings.append(ctx.finding("HL201", message, _failure_path(ctx, cluster.service),
                                    severity=Severity.ERROR if expected else Severity.WARNING,
                                    obj=f"{ref} ({describe_route(cluster.route)} sends to it)", object_location=location,
                                    fix=fix))
    return findings


def _unreachable(ctx: LintContext, clusters: list[FailingCluster]) -> list[Finding]:
    """HL202: too few failing answers from one host, to one proxy, in the fault phase, to reach the threshold."""
    findings = []
    phase_s = ctx.exp.phases.seconds("fault")
    for cluster in clusters:
        outlier, failing = cluster.outlier, cluster.failing
        threshold = outlier.threshold(failing.status) if outlier is not None else None
        if outlier is None or threshold is None or cluster.calls_per_s is None or not failing.hosts \
                or outlier.ejectable_hosts(failing.hosts) < 1:
            continue
        per_host = cluster.calls_per_s / failing.hosts * phase_s  # calls one failing host gets from that proxy
        if failing.rate >= 1:
            reachable = per_host >= threshold
        else:  # expected runs of `threshold` failures in a row among per_host calls
            reachable = per_host * (1 - failing.rate) * failing.rate ** threshold >= 1
        if reachable:
            continue
        ref, location = _dr(ctx, cluster, "consecutive5xxErrors")
        expected = bool(_ejection_hypotheses(ctx, cluster.service))
        findings.append(ctx.finding(
            "HL202", f"a failing replica of {cluster.name} gets about {per_host:.0f} calls from its busiest client "
            f"proxy in the {phase_s:g}s fault phase at load.rate {ctx.exp.load.rate:g}/s, failing {failing.rate:.0%} "
            f"of them: {threshold} consecutive errors are unlikely, so it is not ejected",
            _failure_path(ctx, cluster.service), severity=Severity.ERROR if expected else Severity.WARNING,
            obj=f"{ref}: consecutive errors {threshold}", object_location=location))
    return findings


def _from_injected(ctx: LintContext) -> list[Finding]:
    """HL203: ejections expected where only injected faults fail (they never count toward outlier detection)."""
    findings = []
    for index, h in enumerate(ctx.exp.hypotheses):
        if h.measure != "ejections" or h.above is None or not h.service:
            continue
        service = ctx.view.service_of(ctx.view.fqdn(h.service))
        if any(f.service == service and (f.error_rate or f.latency_ms) for f in ctx.exp.failures):
            continue
        injected = [t for t in ctx.view.targets if ctx.view.service_of(t.host) == service]
        if not injected:
            continue
        findings.append(ctx.finding(
            "HL203", f"hypothesis {h.name!r} expects ejections from {service}, whose only failures are the injected "
            f"faults of faults[{injected[0].index}]: no host ever answers them, so nothing is ejected",
            ("hypotheses", index, "measure"), obj=f"the outlier detection of {service}"))
    return findings


def _outlasts_recovery(ctx: LintContext, clusters: list[FailingCluster]) -> list[Finding]:
    """HL204: a host ejected late in the fault phase is still out for a whole recovery window."""
    findings = []
    for cluster in clusters:
        outlier = cluster.outlier
        if outlier is None or outlier.ejectable_hosts(cluster.failing.hosts) < 1:
            continue
        out_s = max(outlier.base_ejection_s, outlier.interval_s)  # returned at the first interval tick after that
        for index, h in enumerate(ctx.exp.hypotheses):
            if h.phase != "recovery":
                continue
            window_s = ctx.exp.phases.seconds("recovery")
            if out_s < window_s:
                continue
            ref, location = _dr(ctx, cluster, "baseEjectionTime")
            findings.append(ctx.finding(
                "HL204", f"a replica of {cluster.name} ejected near the end of the fault phase stays out for "
                f"{outlier.base_ejection_s:g}s (returned at an interval tick, every {outlier.interval_s:g}s): the whole "
                f"{window_s:g}s recovery phase of hypothesis {h.name!r} is judged with fewer endpoints",
                ("hypotheses", index, "phase"),
                obj=f"{ref}: baseEjectionTime {outlier.base_ejection_s:g}s, interval {outlier.interval_s:g}s",
                object_location=location))
    return findings
