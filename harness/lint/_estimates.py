"""Rough effects along call chains: how long a delayed call takes after the timeouts above it, and which share
of calls fails after aborts, real failures, retries and outlier detection.

They decide whether a hypothesis *depends* on a mechanism (would it hold only if the route's own timeout cut the
delay, or only if retries saw the injected aborts?), not what a run will measure. Every step restates the
semantics reference: a delay is not cut by its own route's timeout (§A.7 point 1), an abort is not retried by
its own route (point 2), a failure below a route is retried by it (point 5), and a request is retried within
the weighted cluster it was sent to, on hosts not tried yet (§A.4 previous_hosts).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from harness.experiment import RUN_HEADER, Experiment, Failure, Hypothesis
from harness.istio import Outlier, Retry, RouteChoice, cluster_outlier, outlier_of, subset_labels
from harness.lint._traffic import Chain, Hop
from harness.lint._view import LINT_RUN_ID, MeshView

PROPAGATED_STATUS = 500  # a demo service answers 500 when a call it needs fails (harness/sandbox/_services.py)
PROPAGATED_PREFIX = "x-chaos-"  # headers the demo services pass on to their calls, as apps must for the run header
QUANTILES = {"latency_p50": 0.5, "latency_p95": 0.95, "latency_p99": 0.99}


@dataclass(frozen=True)
class Cohort:
    name: str
    headers: Mapping[str, str]
    weight: float        # its share of what the hypothesis counts


def cohorts_of(exp: Experiment, h: Hypothesis) -> list[Cohort]:
    """The load's cohorts a hypothesis counts: tagged users send the run header, control users do not."""
    tagged = Cohort("tagged", {**exp.load.headers, RUN_HEADER: LINT_RUN_ID}, 1.0)
    control = Cohort("control", dict(exp.load.headers), 1.0)
    if h.source == "client" and h.cohort != "all":
        return [tagged if h.cohort == "tagged" else control]
    share = exp.load.tagged_share
    return [c for c in (replace(tagged, weight=share), replace(control, weight=1 - share)) if c.weight > 0]


def units_of(view: MeshView, h: Hypothesis) -> list[Chain]:
    """What a hypothesis counts: the load's requests (client), or the calls into its service (mesh)."""
    if h.source == "client":
        return [c for c in view.chains if len(c.hops) == 1]
    if not h.service:
        return []
    calls = view.chains_to(view.service_of(view.fqdn(h.service)))
    # sourceWorkload selects the caller; the sandbox's workloads are named <service>-<version> as the callers here
    return [c for c in calls if h.source_workload in (None, c.last.caller.name)]


def extensions(view: MeshView, unit: Chain) -> list[Chain]:
    """The chains that start with ``unit``: everything its call waits for."""
    size = len(unit.hops)
    return [c for c in view.chains if c.request == unit.request and c.hops[:size] == unit.hops]


def routes_along(view: MeshView, chain: Chain, headers: Mapping[str, str]) -> list[RouteChoice | None]:
    """The route each hop's proxy picks for a request of a cohort (only x-chaos-* headers travel past the entry)."""
    routes = []
    for index, hop in enumerate(chain.hops):
        carried = headers if index == 0 else {k: v for k, v in headers.items() if k.startswith(PROPAGATED_PREFIX)}
        routes.append(view.route(hop, replace(hop.caller, headers=carried)))
    return routes


def delayed_latency_s(chain: Chain, routes: list[RouteChoice | None], start: int, *,
                      own_timeout_cuts_delay: bool = False) -> tuple[float, float]:
    """The latency of the call at hop ``start`` when every delay below it fires, and the share that delays.

    A delay adds to its hop; the hop's own route timeout bounds only the answer after the delay (§A.7 point 1,
    E27); every route and application timeout above it bounds the whole. ``own_timeout_cuts_delay`` computes
    what a hypothesis relying on the same route's timeout believes.
    """
    latency, share = 0.0, 1.0
    for index in range(len(chain.hops) - 1, start - 1, -1):
        route, hop = routes[index], chain.hops[index]
        fault = route.fault if route is not None else None
        delay = fault.delay_s if fault is not None and fault.delays else 0.0
        if fault is not None and fault.delays:
            share *= fault.delay_fraction
        timeout = route.timeout_s if route is not None else None
        if own_timeout_cuts_delay and timeout is not None:
            latency = min(delay + latency, timeout)
        else:
            latency = delay + (min(latency, timeout) if timeout is not None else latency)
        if hop.app_timeout_s is not None:
            latency = min(latency, hop.app_timeout_s)
    return latency, share


@dataclass(frozen=True)
class Failing:
    """The failing replicas of one cluster: ``hosts`` endpoints, ``failing`` of them answer ``status``."""

    hosts: int
    failing: int
    rate: float
    status: int


def failing_in(view: MeshView, exp: Experiment, service: str, subset: str | None, host: str) -> Failing | None:
    """The experiment's real failures among the endpoints of one (subset) cluster of ``service``."""
    failures = [f for f in exp.failures if f.service == service and f.error_rate]
    workload = view.graph.workloads.get(service)
    labels = subset_labels(view.destination_rule(host), subset)
    if not failures or workload is None or labels is None:
        return None
    hosts = failing = 0
    for version_labels, replicas in workload.versions:
        if any(version_labels.get(k) != v for k, v in labels.items()):
            continue
        hosts += replicas
        failing += max(_failing_replicas(f, version_labels, replicas) for f in failures)
    live = view.live.endpoint_count(service, labels) if view.live else None
    worst = max(failures, key=lambda f: f.error_rate or 0)
    return Failing(live if live is not None else hosts, failing, worst.error_rate or 0.0, worst.error_status or 503)


def _failing_replicas(failure: Failure, labels: Mapping[str, str], replicas: int) -> int:
    if failure.version is not None and labels.get("version") != failure.version:
        return 0
    if failure.replica is None:
        return replicas
    return 1 if failure.replica < replicas else 0


def after_retries(failing: Failing, retry: Retry | None) -> float:
    """The share of calls to a cluster that fail after the route's retries (§A.4, A.7 point 5)."""
    per_try = failing.failing / failing.hosts * failing.rate if failing.hosts else 0.0
    if retry is None or not retry.retries_status(failing.status):
        return per_try
    if failing.rate >= 1 and retry.previous_hosts:
        # each retry goes to a host not tried yet: all tries fail only while failing hosts remain
        share = 1.0
        for attempt in range(retry.attempts + 1):
            left = failing.hosts - attempt
            if left <= 0:
                break
            share *= max(0, failing.failing - attempt) / left
        return share
    return float(per_try ** (retry.attempts + 1))


def outlier_for(view: MeshView, route: RouteChoice, subset: str | None, port: int | None) -> Outlier | None:
    return outlier_of(cluster_outlier(view.destination_rule(route.host), subset, port))


def ejects_all(outlier: Outlier | None, failing: Failing) -> bool:
    """Whether outlier detection can hold every failing host out (B.3: strict maxEjectionPercent)."""
    return (outlier is not None and failing.failing > 0 and outlier.counts(failing.status)
            and outlier.ejectable_hosts(failing.hosts) >= failing.failing)


@dataclass(frozen=True)
class Assumptions:
    """What a failure estimate leaves out, to ask "would the hypothesis hold if ...?"."""

    retries: bool = True               # the routes' retries act on real failures
    outlier_detection: bool = True     # outlier detection ejects what it can
    retry_injected_aborts: bool = False  # the belief behind HL102: a route retries its own aborts


AS_CONFIGURED = Assumptions()


def failed_share(view: MeshView, exp: Experiment, chain: Chain, routes: list[RouteChoice | None], start: int,
                 assume: Assumptions = AS_CONFIGURED) -> float:
    """The share of calls at hop ``start`` that fail, from the aborts and real failures below it."""
    below = 0.0  # failure of the call one hop further down, as its caller sees it
    for index in range(len(chain.hops) - 1, start - 1, -1):
        route, hop = routes[index], chain.hops[index]
        if route is None:
            below = 0.0
            continue
        retry = route.retry if assume.retries else None
        fault = route.fault
        aborted = fault.abort_fraction if fault is not None and fault.aborts else 0.0
        if aborted and assume.retry_injected_aborts and retry is not None and fault is not None \
                and fault.abort_status is not None and retry.retries_status(fault.abort_status):
            aborted = aborted ** (retry.attempts + 1)
        real = _real_failures(view, exp, hop, route, retry, assume)
        if retry is not None and retry.retries_status(PROPAGATED_STATUS):
            below = below ** (retry.attempts + 1)  # a retry sends the whole call again (§A.7 point 5)
        failed = 1 - (1 - aborted) * (1 - real) * (1 - below)
        below = 0.0 if hop.optional and index > start else failed
    return below


def _real_failures(view: MeshView, exp: Experiment, hop: Hop, route: RouteChoice, retry: Retry | None,
                   assume: Assumptions) -> float:
    share = 0.0
    for destination in route.destinations:
        failing = failing_in(view, exp, view.service_of(destination.host), destination.subset, destination.host)
        if failing is None:
            continue
        if assume.outlier_detection and ejects_all(outlier_for(view, route, destination.subset, destination.port),
                                                   failing):
            continue  # the failing hosts are ejected within seconds and meet few calls after that
        share += destination.share * after_retries(failing, retry)
    return share
