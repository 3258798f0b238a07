"""What each call of a request meets, as a distribution of outcomes: the route the caller's proxy picks (lint's
mesh view), its fault (delay, then abort; §A.5, A.7), the hosts of the destination cluster with the experiment's
real failures, the app's own calls below it, the route's per-try timeout, retries and timeout (§A.3, A.4),
outlier ejections in steady state (§B.3) and connection-pool overflow (§B.4).

A delay is not bounded by its own route's timeout (§A.7 point 1), an abort is never retried and never reaches
the cluster (point 2), a failing host's answer is retried on another host (previous_hosts, §A.4), an overflow
is never retried (E15).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from harness.experiment import Failure
from harness.istio import Destination, Retry, RouteChoice, subset_labels
from harness.lint import PROPAGATED_STATUS, Chain, MeshView, routes_along
from harness.predict._dist import Branch, Dist, mean, merged, scaled


@dataclass(frozen=True)
class Replica:
    service: str
    version: str
    index: int
    latency_s: float = 0.0
    error_rate: float = 0.0
    error_status: int = 503


Overflow = Callable[[Chain, RouteChoice, Destination, float], float]  # -> share shed (UO) for a mean service time


def _flags(*flags: str) -> str:
    return ",".join(f for f in flags if f)


class CallModel:
    """The outcomes of every call chain in one phase of one experiment, for one cohort's headers."""

    def __init__(self, view: MeshView, failures: list[Failure], topology: Any, *, overflow: Overflow | None = None,
                 ejected: Callable[[Chain, RouteChoice, Destination, list[Replica]], set[int]] | None = None) -> None:
        self.view, self.failures, self.topology = view, failures, topology
        self.overflow = overflow
        self.ejected = ejected
        self._memo: dict[tuple[Any, ...], Dist] = {}

    # -- one call ---------------------------------------------------------------------------------

    def route(self, chain: Chain, headers: Mapping[str, str]) -> RouteChoice | None:
        return routes_along(self.view, chain, headers)[-1]

    def call(self, chain: Chain, headers: Mapping[str, str]) -> Dist:
        """The call at ``chain.last`` as its caller sees it (latency from the caller's send to its answer)."""
        key = (_chain_key(chain), tuple(sorted(headers.items())))
        if key not in self._memo:
            self._memo[key] = self._call(chain, headers)
        return self._memo[key]

    def _call(self, chain: Chain, headers: Mapping[str, str]) -> Dist:
        route = self.route(chain, headers)
        if route is None:
            return (Branch(1.0, 0.0, 404, "NR", attempts=0),)
        fault = route.fault
        delays = [(fault.delay_fraction, fault.delay_s), (1 - fault.delay_fraction, 0.0)] \
            if fault is not None and fault.delays else [(1.0, 0.0)]
        abort = fault.abort_fraction if fault is not None and fault.aborts else 0.0
        out: list[Branch] = []
        for p_delay, delay in delays:
            delayed = "DI" if delay else ""
            if abort and fault is not None:
                out.append(Branch(p_delay * abort, delay, fault.abort_status or 503, _flags(delayed, "FI"), attempts=0))
            for dest in route.destinations:
                for b in self.upstream(chain, route, dest, headers):
                    out.append(replace(b, p=b.p * p_delay * (1 - abort) * dest.share, latency_s=b.latency_s + delay,
                                       flag=_flags(delayed, b.flag)))
        return merged(out)

    # -- the destination cluster ---------------------------------------------------------------------

    def replicas(self, dest: Destination) -> list[Replica] | None:
        """The endpoints of a (subset) cluster with their behaviour; None for a subset no rule defines (NC)."""
        service = self.view.service_of(dest.host)
        labels = subset_labels(self.view.destination_rule(dest.host), dest.subset)
        if labels is None:
            return None
        workload = self.view.graph.workloads.get(service)
        versions = workload.versions if workload is not None else (({"app": service}, 1),)
        found = []
        for version_labels, count in versions:
            if any(version_labels.get(k) != v for k, v in labels.items()):
                continue
            version = version_labels.get("version", "")
            for index in range(count):
                found.append(self._behaving(Replica(service, version, index, self._base_latency_s(service, version)),
                                            count))
        return found

    def _base_latency_s(self, service: str, version: str) -> float:
        topology = self.topology
        if topology is None or getattr(topology, "namespace", None) != self.view.namespace:
            return 0.0
        try:
            found = topology.service(service)
        except KeyError:
            return 0.0
        behaviour = found.behaviour
        for v in found.versions:
            if v.name == version:
                behaviour = behaviour.merged(v.behaviour)
        return float(behaviour.latency_ms) / 1000

    def _behaving(self, replica: Replica, count: int) -> Replica:
        """A replica with the experiment's real failures applied (the sandbox's behaviour knobs)."""
        for f in self.failures:
            if f.service != replica.service or (f.version is not None and f.version != replica.version):
                continue
            if f.replica is not None and (f.replica != replica.index or f.replica >= count):
                continue
            if f.latency_ms is not None:
                replica = replace(replica, latency_s=f.latency_ms / 1000)
            if f.error_rate is not None:
                replica = replace(replica, error_rate=f.error_rate, error_status=f.error_status or 503)
        return replica

    def answer(self, chain: Chain, replica: Replica, headers: Mapping[str, str]) -> Dist:
        """What a replica answers: its latency, then its failure or its own calls (sequential; a required call that
        fails makes it answer 500, an optional one does not; harness/sandbox/_services.py)."""
        branches = [Branch(replica.error_rate, replica.latency_s, replica.error_status)] if replica.error_rate else []
        acc: list[Branch] = [Branch(1 - replica.error_rate, replica.latency_s)]
        for child in self.children(chain, replica):
            hop = child.last
            step = []
            for a in acc:
                for b in self.call(child, headers):
                    latency, failed = b.latency_s, not b.ok
                    if hop.app_timeout_s is not None and latency > hop.app_timeout_s:
                        latency, failed = hop.app_timeout_s, True
                    status = PROPAGATED_STATUS if failed and not hop.optional else a.status
                    step.append(Branch(a.p * b.p, a.latency_s + latency, status))
            acc = list(merged(step))
        return merged(branches + acc)

    def children(self, chain: Chain, replica: Replica) -> list[Chain]:
        """The calls the replica's workload makes for this request, in the order it makes them."""
        size = len(chain.hops)
        name = f"{replica.service}-{replica.version}" if replica.version else replica.service
        return [c for c in self.view.chains if len(c.hops) == size + 1 and c.request == chain.request
                and c.hops[:size] == chain.hops and c.last.caller.name == name]

    def upstream(self, chain: Chain, route: RouteChoice, dest: Destination, headers: Mapping[str, str]) -> Dist:
        replicas = self.replicas(dest)
        if replicas is None:
            return (Branch(1.0, 0.0, 503, "NC", dest.subset, attempts=0),)
        ejected = self.ejected(chain, route, dest, replicas) if self.ejected else set()
        hosts = [r for i, r in enumerate(replicas) if i not in ejected]
        if not hosts:  # every host ejected: Istio sets the panic threshold to 0 (§B.3, E17)
            return (Branch(1.0, 0.0, 503, "UH", dest.subset, attempts=0),)
        answers = [self.answer(chain, r, headers) for r in hosts]
        tries = merged(_tries(answers, route.retry, route.timeout_s, dest.subset))
        shed = self.overflow(chain, route, dest, mean(tuple(b for a in answers for b in a), lambda b: b.latency_s)) \
            if self.overflow else 0.0
        if not shed:
            return tries
        return merged([Branch(shed, 0.0, 503, "UO", dest.subset)] + scaled(tries, 1 - shed))


def _tries(answers: list[Dist], retry: Retry | None, timeout: float | None, subset: str | None, *,
           tried: tuple[int, ...] = (), elapsed: float = 0.0, per_try_timeouts: int = 0) -> list[Branch]:
    """Each try picks a host (least-request among equals: uniformly), a retry one not tried yet (previous_hosts);
    the per-try timeout cuts a try (504 UT, retried under 5xx/gateway-error only: E10, E11), the route timeout
    cuts the whole sequence (E12)."""
    n = len(tried)
    per_try = retry.per_try_timeout_s if retry is not None else None
    candidates = [i for i in range(len(answers)) if i not in tried] if retry is not None and retry.previous_hosts \
        else list(range(len(answers)))
    candidates = candidates or list(range(len(answers)))
    out: list[Branch] = []
    for i in candidates:
        pick = 1 / len(candidates)
        for b in answers[i]:
            latency, status, flag, timed_out = b.latency_s, b.status, "", 0
            if per_try is not None and latency > per_try:
                latency, status, flag, timed_out = per_try, 504, "UT", 1
            if timeout is not None and elapsed + latency > timeout:
                out.append(Branch(pick * b.p, timeout, 504, "UT", subset, n, per_try_timeouts, 1, n + 1))
                continue
            retried = retry is not None and status >= 500 and (
                retry.retries_timeouts() if timed_out else retry.retries_status(status))
            if retried and retry is not None and n < retry.attempts:
                rest = _tries(answers, retry, timeout, subset, tried=tried + (i,), elapsed=elapsed + latency,
                              per_try_timeouts=per_try_timeouts + timed_out)
                out += scaled(tuple(rest), pick * b.p)
                continue
            flag = _flags("URX" if retried else "", flag)
            out.append(Branch(pick * b.p, elapsed + latency, status, flag, subset, n, per_try_timeouts + timed_out,
                              0, n + 1))
    return out


def _chain_key(chain: Chain) -> tuple[Any, ...]:
    return (chain.request, tuple((h.caller.name, h.service, h.path) for h in chain.hops))
