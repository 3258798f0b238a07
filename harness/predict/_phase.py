"""One phase of one experiment as the semantics see it: the mesh view (lint's), the call model, the load's rates,
connection-pool overflow (§B.4) and outlier ejections with their timing (§B.2, B.3)."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from harness.experiment import LoadedExperiment
from harness.istio import Destination, DestinationRule, RouteChoice
from harness.lint import Chain, Cohort, MeshSnapshot, build_view, outlier_for, policies_of
from harness.predict._calls import CallModel, Replica
from harness.predict._dist import Branch, Dist, mean

UNPACED_RATE_PER_USER = 10.0  # req/s a Locust user without load.rate is assumed to send (it waits for answers)
OVERHEAD_S = 0.1             # what proxies and apps may add to a call beyond the modelled latency
TRANSIENT_SPREAD = 3.0        # observed failures before an ejection can reach this multiple of the threshold


@dataclass(frozen=True)
class Ejection:
    """One failing host that the caller's proxy ejects (§B.3): consecutive errors needed, host's request rate."""

    caller: str
    service: str
    subset: str | None
    replica: int
    threshold: float          # expected requests to the host until the consecutive errors that eject it
    host_rate: float          # calls/s from this proxy to this host before the ejection
    base_s: float
    interval_s: float
    retried: bool             # the route retries the host's errors on another host

    def cycles(self, window_s: float) -> int:
        """Ejections within a window: the k-th lasts k x baseEjectionTime, then the host fails again."""
        t, count = self.threshold / self.host_rate, 0
        while t < window_s:
            count += 1
            t += self.base_s * count + self.interval_s / 2 + self.threshold / self.host_rate
        return count


class Phase:
    """The fault phase (faults merged, failures on) or a quiet phase (baseline, recovery: policies only)."""

    def __init__(self, loaded: LoadedExperiment, snapshot: MeshSnapshot, phase: str, *, bound: str = "value") -> None:
        exp = loaded.experiment
        self.faulty = phase == "fault"
        if not self.faulty:
            exp = exp.model_copy(update={"faults": [], "failures": []})
            loaded = replace(loaded, experiment=exp)
        self.exp, self.phase, self.bound = exp, phase, bound
        self.excess = _worker_excess(snapshot, exp.target.namespace)
        self.view = build_view(loaded, snapshot.live, policies_of(loaded), topology=snapshot.topology)
        self.window_s = exp.phases.seconds(phase)
        self.assumptions: dict[str, None] = {}
        self.pool_limited = False
        self.pool_calls: dict[tuple[str, str], float] = {}  # nominal calls/s into each pool that limits them
        self.ejections: dict[tuple[str, str, str | None, int], Ejection] = {}
        self.model = CallModel(self.view, list(exp.failures), snapshot.topology, overflow=self._overflow,
                               ejected=self._ejected)
        load = exp.load
        self.nominal_rate = load.rate if load.rate else load.users * UNPACED_RATE_PER_USER
        if not load.rate:
            self.assume(f"each of the {load.users} Locust users sends about {UNPACED_RATE_PER_USER:g} req/s "
                        "(load.rate is not set)")
        if load.shape.kind != "constant":
            self.assume(f"the load's {load.shape.kind} shape is taken as {load.users} users throughout")

    def assume(self, text: str) -> None:
        self.assumptions[text] = None

    # -- the load -----------------------------------------------------------------------------------

    def requests(self, cohort: Cohort) -> list[tuple[float, Dist]]:
        """The cohort's requests: each entry chain's share of the load and what it meets."""
        return [(c.share, self.model.call(c, cohort.headers)) for c in self.view.chains if len(c.hops) == 1]

    def rate(self, cohort: Cohort, users: int) -> float:
        """Requests/s of a cohort's users: each user starts a request every users/rate s, or right after its
        previous answer when that takes longer (harness/load/_pacing.py)."""
        if users <= 0:
            return 0.0
        interval = self.exp.load.users / self.nominal_rate if self.exp.load.rate else 0.0
        entries = self.requests(cohort)
        total = sum(w for w, _ in entries) or 1.0
        busy = sum(w / total * mean(d, lambda b: max(interval, b.latency_s)) for w, d in entries)
        return users / busy if busy > 0 else users * UNPACED_RATE_PER_USER

    def calls_per_s(self, chain: Chain) -> float:
        """Nominal calls/s along a chain (before the load slows down)."""
        return self.nominal_rate * chain.share

    # -- connection pools (§B.4) ------------------------------------------------------------------------

    def _overflow(self, chain: Chain, route: RouteChoice, dest: Destination, service_s: float) -> float:
        """The share of calls shed (UO). ``value``: M/M/c/K loss at the nominal rate. ``low``: the fluid limit
        (the least loss any arrival pattern shows): the pool passes at most (active + workers' excess) calls per
        service time plus the active and pending calls admitted at the start, against the lowest arrival rate
        the paced users reach while the calls that get through hold them. ``high``: the M/M/c/K loss with each
        connection held for the service time plus the proxies' own time, at the nominal rate (an upper bound
        on the arrivals): random arrivals and holding times lose more than paced ones of the same means."""
        limits = _pool_limits(self.view.destination_rule(dest.host), dest.subset)
        if limits is None:
            return 0.0
        active, pending = limits
        offered = sum(self.calls_per_s(c) for c in self.view.chains
                      if c.last.service == chain.last.service and c.last.caller.name == chain.last.caller.name)
        offered *= dest.share
        busy = offered * service_s
        name = dest.host.split(".")[0]
        load = self.exp.load
        bursts = bool(load.rate) and load.users * min(1.0, offered / load.rate) > active + pending
        if busy > active / 2 or bursts:
            self.pool_limited = True
            self.pool_calls[(chain.last.caller.name, chain.last.service)] = offered
            self.assume(f"{chain.last.caller.name} offers {name} about {offered:.3g} calls/s that take "
                        f"{service_s * 1000:.0f} ms each: {busy:.2g} in flight against {active} connections and "
                        f"{pending} pending (§B.4: a request beyond both is shed with 503 UO)")
        if self.bound == "high":
            hold = service_s + OVERHEAD_S
            found = loss(offered * hold, active, pending)
            self.assume(f"most shed (high end): {name}'s calls arrive at random at the nominal {offered:.3g}/s and "
                        f"hold a connection {service_s * 1000:.0f}–{hold * 1000:.0f} ms (the proxies' own time): "
                        f"the M/M/c/K loss with c = {active}, K = {active + pending} (§B.4)")
            burst = self._burst_loss(offered, hold, active, pending)
            if burst is not None and burst > found:
                found = burst
                self.assume(f"most shed (high end): the {self.exp.load.users} paced users may fire together every "
                            f"{self.exp.load.users / self.exp.load.rate:.3g} s (each starts at a random point of its "
                            f"interval, so they rarely all line up: an upper bound): {name}'s pool then admits only "
                            f"what its free connections and pending slots take at each burst and sheds the rest "
                            f"(§B.4): {burst:.3g} shed")
            return found
        if self.bound == "low":
            if busy <= 0 or service_s <= 0:
                return 0.0
            capacity = active + self.excess
            through = capacity / service_s
            scale = self._achieved_scale(min(through, offered), service_s * (1 + math.ceil(pending / active)) + OVERHEAD_S)
            least = offered * scale
            window = max(self.window_s, 1e-9)
            shed = max(0.0, 1 - through / least - (capacity + pending) / (least * window)) if least > 0 else 0.0
            self.assume(f"least shed (low end, the fluid limit): at most {capacity} concurrent {name} calls"
                        + (f" ({active} + {self.excess} that Envoy's workers may admit beyond the shared limit, "
                           "§B.4 E15)" if self.excess else "")
                        + f", i.e. {through:.3g}/s, plus the {capacity + pending} admitted at the start, against "
                        f"at least {least:.3g} calls/s (the users whose calls get through wait for them)")
            return shed
        return loss(busy, active, pending)

    def _burst_loss(self, offered: float, hold_s: float, active: int, pending: int) -> float | None:
        """The share shed when all paced users send at the same instant every interval: the calls of a burst
        (binomial: each user's request calls the pool with probability offered/rate) meet the connections that
        are free (each serves one call per ceil(hold/interval) bursts) and the pending slots when a pending call
        is served before the next burst; the rest overflow. None for unpaced load."""
        load = self.exp.load
        if not load.rate or load.users <= 0 or offered <= 0:
            return None
        interval = load.users / load.rate
        calls = min(1.0, offered / load.rate)
        cycles = max(1, math.ceil(hold_s / interval - 1e-9))
        admitted = active / cycles
        if cycles == 1 and pending and hold_s * (1 + math.ceil(pending / active)) <= interval:
            admitted += pending
        mean_calls = load.users * calls
        return _binomial_excess(load.users, calls, admitted) / mean_calls if mean_calls > 0 else 0.0

    def _achieved_scale(self, through: float, held_s: float) -> float:
        """The least share of the nominal rate paced users keep sending when ``through`` calls/s hold their user
        up to ``held_s`` instead of one pacing interval (harness/load/_pacing.py); 1 for unpaced load."""
        load = self.exp.load
        if not load.rate or load.users <= 0:
            return 1.0
        interval = load.users / load.rate
        lost_users = through * max(0.0, held_s - interval)  # user-seconds per second spent waiting beyond pacing
        return max(0.0, load.users - lost_users) / load.users

    # -- outlier detection (§B.2, B.3) ----------------------------------------------------------------

    def _ejected(self, chain: Chain, route: RouteChoice, dest: Destination, replicas: list[Replica]) -> set[int]:
        outlier = outlier_for(self.view, route, dest.subset, dest.port)
        failing = [(i, r) for i, r in enumerate(replicas) if r.error_rate > 0]
        if not failing:
            return set()
        name = dest.host.split(".")[0] + (f" subset {dest.subset}" if dest.subset else "")
        if outlier is None:
            self.assume(f"{chain.last.caller.name} → {name}: no outlier detection, the failing hosts stay in")
            return set()
        room = outlier.ejectable_hosts(len(replicas))
        self.assume(f"{chain.last.caller.name} → {name}: {len(replicas)} hosts × maxEjectionPercent "
                    f"{outlier.max_ejection_percent}% → {room} ejectable (§B.3)")
        offered = sum(self.calls_per_s(c) for c in self.view.chains
                      if c.last.service == chain.last.service and c.last.caller.name == chain.last.caller.name)
        host_rate = offered * dest.share / len(replicas)
        chosen: set[int] = set()
        for index, r in sorted(failing, key=lambda x: -x[1].error_rate)[:room]:
            limit = outlier.threshold(r.error_status)
            if limit is None or host_rate <= 0:
                continue
            rate = r.error_rate
            needed = float(limit) if rate >= 1 else (1 - rate ** limit) / ((1 - rate) * rate ** limit)
            if needed / host_rate > self.window_s:
                self.assume(f"{r.service}-{r.version}-{r.index} needs ~{needed / host_rate:.0f} s to fail "
                            f"{limit} times in a row: not ejected within the phase")
                continue
            chosen.add(index)
            retry = route.retry
            self.ejections[(chain.last.caller.name, r.service, dest.subset, index)] = Ejection(
                chain.last.caller.name, r.service, dest.subset, index, needed, host_rate, outlier.base_ejection_s,
                outlier.interval_s, retry is not None and retry.retries_status(r.error_status)
                and len(replicas) > 1)
            self.assume(f"{chain.last.caller.name} ejects {r.service}-{r.version}-{r.index} after ~{needed:.0f} "
                        f"failed calls ({needed / host_rate:.2g} s at {host_rate:.3g} calls/s), for "
                        f"{outlier.base_ejection_s:g} s × the ejection count")
        return chosen


def _binomial_excess(n: int, p: float, admitted: float) -> float:
    """E[(X - admitted)+] for X ~ Binomial(n, p); a fractional ``admitted`` interpolates between its neighbours."""
    def excess(a: int) -> float:
        return sum(math.comb(n, k) * p ** k * (1 - p) ** (n - k) * (k - a) for k in range(a + 1, n + 1))
    below = math.floor(admitted)
    frac = admitted - below
    return excess(below) * (1 - frac) + excess(below + 1) * frac if frac else excess(below)


def _worker_excess(snapshot: MeshSnapshot, namespace: str) -> int:
    """Requests Envoy's workers may admit beyond a circuit breaker's limit (shared atomics, §B.4 E15: 2 workers let
    one more through): the sandbox's proxies run ``proxy_concurrency`` workers; elsewhere assume up to 3."""
    topology = snapshot.topology
    if topology is not None and getattr(topology, "namespace", None) == namespace:
        return max(0, int(getattr(topology, "proxy_concurrency", 1)) - 1)
    return 2


def _pool_limits(rule: DestinationRule | None, subset: str | None) -> tuple[int, int] | None:
    """Concurrent requests and pending requests a cluster admits (HTTP/1.1: one request per connection)."""
    if rule is None:
        return None
    pool = rule.spec.traffic_policy.connection_pool if rule.spec.traffic_policy else None
    for item in rule.spec.subsets:
        if item.name == subset and item.traffic_policy is not None and item.traffic_policy.connection_pool:
            pool = item.traffic_policy.connection_pool
    if pool is None:
        return None
    tcp = pool.tcp.max_connections if pool.tcp else None
    http2 = pool.http.http2_max_requests if pool.http else None
    pending = pool.http.http1_max_pending_requests if pool.http else None
    active = min(x for x in (tcp, http2) if x) if (tcp or http2) else None
    if active is None:
        return None
    return active, pending or 0


def loss(offered: float, servers: int, queue: int) -> float:
    """The share an M/M/c/K system turns away (c = concurrent requests, K = c + pending): Erlang B without a queue."""
    terms, term = [1.0], 1.0
    for n in range(1, servers + queue + 1):
        term *= offered / min(n, servers)
        terms.append(term)
    return terms[-1] / sum(terms)


def failing(b: Branch) -> bool:
    return not b.ok


def finite(value: float) -> bool:
    return value is not None and math.isfinite(value)
