"""Predict each hypothesis of an experiment from the semantics: the client's measures from the requests' call
chains, the mesh's from the calls into the hypothesis' service, Envoy's counters from the same calls and the
outlier ejections' timing, ``versus`` from both sides."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction

from harness.experiment import Hypothesis, LoadedExperiment, judged_part_s
from harness.lint import Cohort, MeshSnapshot, cohorts_of, units_of
from harness.predict._dist import QUANTILE_Z, Branch, Dist, quantile, share
from harness.predict._phase import TRANSIENT_SPREAD, Ejection, Phase
from harness.predict._prediction import Prediction, unpredicted

QUANTILES = {"latency_p50": 0.5, "latency_p95": 0.95, "latency_p99": 0.99}
OVERHEAD_MS = 100.0  # what proxies, apps and the load generator add to a request beyond the modelled delays
TINY = 1e-9          # values below this are shown as 0
Z95 = 1.96           # the observed intervals' 95 % normal quantile
COUNTERS = ("ejections", "overflows", "retries", "timeouts", "per_try_timeouts")
Value = tuple[float, float, float]  # value, low, high


@dataclass
class _Sides:
    phases: dict[tuple[str, int], Phase]


def predict_experiment(loaded: LoadedExperiment, snapshot: MeshSnapshot) -> list[Prediction]:
    """One prediction per hypothesis (guardrails are not predicted), in the experiment's order."""
    phases: dict[tuple[str, int], Phase] = {}

    def phase(name: str, bound: str = "value") -> Phase:
        if (name, bound) not in phases:
            phases[(name, bound)] = Phase(loaded, snapshot, name, bound=bound)
        return phases[(name, bound)]

    return [_predict(h, phase, loaded, snapshot) for h in loaded.experiment.hypotheses]


def _predict(h: Hypothesis, phase: Callable[..., Phase], loaded: LoadedExperiment,
             snapshot: MeshSnapshot) -> Prediction:
    if h.measure == "promql":
        return unpredicted(h, "a raw PromQL query: the semantics do not say what it computes")
    if h.measure == "latency_shift":
        return unpredicted(h, "latency_shift is a rank test's estimate, not a value the semantics give")
    if h.source == "mesh" and h.version is not None:
        return unpredicted(h, "destination version filters are not modelled")
    main = phase(h.phase)
    if not main.view.chains:
        return unpredicted(h, "the gateway has no route for the load's requests in the known mesh",
                           tuple(snapshot.notes))
    try:
        found = _value(h, main, h.phase)
        bounds = [phase(h.phase, b) for b in ("low", "high")] if main.pool_limited else []
        for other in bounds:  # the pool's loss between the fluid limit and random arrivals (§B.4)
            more = _value(h, other, h.phase)
            if found is not None and more is not None:
                found = (found[0], min(found[1], more[1]), max(found[2], more[2]))
    except _NoValue as exc:
        return unpredicted(h, str(exc), _assumed(main, snapshot))
    if found is None:
        return unpredicted(h, "nothing along the load's calls reaches this service", _assumed(main, snapshot))
    value, low, high = found
    assumptions = _assumed(main, snapshot)
    for other in bounds:
        assumptions += tuple(a for a in _assumed(other, snapshot) if a not in assumptions)
    if h.versus is not None:
        ref_phase = phase("baseline") if h.versus == "baseline" else main
        ref = _value(h, ref_phase, "baseline" if h.versus == "baseline" else h.phase,
                     cohort="control" if h.versus == "control" else None)
        if ref is None:
            return unpredicted(h, f"no {h.versus} to compare with", assumptions)
        combined = _combine(h, found, ref)
        if combined is None:
            return unpredicted(h, f"the {h.versus} value is 0: the ratio is not defined", assumptions)
        value, low, high = combined
        assumptions += tuple(a for a in _assumed(ref_phase, snapshot) if a not in assumptions)
    if h.measure in QUANTILES:
        assumptions += (f"each request spends 0–{OVERHEAD_MS:g} ms in the proxies, the demo services and the load "
                        "generator beyond the modelled delays and timeouts",)
    value, low, high = (_tidy(x) for x in (value, low, high))
    return Prediction(h.name, h.measure, h.phase, h.cohort, value, low, high, assumptions, source=h.source,
                      bound=_bound(h), meets_bound=_meets(h, low, high))


def _tidy(x: float) -> float:
    """A loss formula's far tail (1e-262) is 0 for every purpose a reader has."""
    return 0.0 if abs(x) < TINY else x


class _NoValue(Exception):
    pass


def _assumed(phase: Phase, snapshot: MeshSnapshot) -> tuple[str, ...]:
    found = list(phase.assumptions)
    if snapshot.topology is None or getattr(snapshot.topology, "namespace", None) != phase.view.namespace:
        found.insert(0, "the services' own latency is not known outside the sandbox: taken as 0 ms")
    elif snapshot.description.startswith("the sandbox's demo mesh") or snapshot.description == "demo":
        found.insert(0, "the demo services answer as their topology says (harness/sandbox/demo/topology.yaml)")
    else:
        found.insert(0, f"the services answer as the topology of {snapshot.description} says (namespace "
                        f"{snapshot.topology.namespace}, {len(snapshot.topology.services)} services)")
    found += [n for n in phase.view.notes]
    return tuple(dict.fromkeys(found))


def _value(h: Hypothesis, phase: Phase, phase_name: str, *, cohort: str | None = None) -> Value | None:
    if h.source == "client":
        return _client(h, phase, cohort or h.cohort)
    if h.measure in COUNTERS:
        return _counter(h, phase)
    return _mesh(h, phase)


# -- the client's view ------------------------------------------------------------------------------


def _cohorts(phase: Phase, h: Hypothesis, cohort: str) -> list[tuple[Cohort, float]]:
    """The cohorts counted and their request rates (users split as harness/load/_cohort.py does)."""
    load = phase.exp.load
    tagged_users = math.floor(load.users * Fraction(str(load.tagged_share)))
    users = {"tagged": tagged_users, "control": load.users - tagged_users}
    chosen = cohorts_of(phase.exp, h.model_copy(update={"cohort": cohort, "source": "client"}))
    return [(c, phase.rate(c, users[c.name])) for c in chosen if users[c.name] > 0]


def _mixture(phase: Phase, cohorts: list[tuple[Cohort, float]]) -> tuple[Dist, float]:
    """Every counted request's outcome, weighted by its cohort's rate, and the total rate."""
    branches: list[Branch] = []
    total_rate = sum(rate for _, rate in cohorts)
    for cohort, rate in cohorts:
        entries = phase.requests(cohort)
        weights = sum(w for w, _ in entries) or 1.0
        for w, dist in entries:
            branches += [Branch(b.p * w / weights * rate / (total_rate or 1), b.latency_s, b.status, b.flag)
                         for b in dist]
    return tuple(branches), total_rate


def client_class(b: Branch) -> str:
    """What the load generator calls a response (harness/load/locust_support.py, classify)."""
    if b.ok:
        return "ok"
    flags = b.flag.split(",")
    for flag in ("UO", "FI", "UT", "UH"):
        if flag in flags and (flag != "UT" or b.status == 504):
            return flag
    return "5xx" if b.status >= 500 else "4xx"


def _client(h: Hypothesis, phase: Phase, cohort: str) -> Value | None:
    cohorts = _cohorts(phase, h, cohort)
    dist, rate = _mixture(phase, cohorts)
    if not dist:
        return None
    if h.measure == "request_rate":
        return rate, rate, rate
    if h.measure in QUANTILES:
        return _latency(dist, QUANTILES[h.measure], phase, rate * _window_s(h, phase))
    hit = _hit(h)
    value = share(dist, lambda b: hit(b, client_class(b)))
    extra = _transient_failures(phase) if h.measure in ("error_rate", "success_rate") and phase.faulty else 0.0
    requests = rate * _window_s(h, phase)
    spread = _pool_spread(h, phase, value, requests)
    if spread and not extra:
        low, high = max(0.0, value - spread), min(1.0, value + spread)
        return (1 - value, 1 - high, 1 - low) if h.measure == "success_rate" else (value, low, high)
    if extra and requests > 0:
        low = min(1.0, value + extra / requests)
        high = min(1.0, value + TRANSIENT_SPREAD * extra / requests)
        return (1 - low, 1 - high, 1 - low) if h.measure == "success_rate" else (low, low, high)
    return (1 - value,) * 3 if h.measure == "success_rate" else (value,) * 3


def _pool_spread(h: Hypothesis, phase: Phase, value: float, requests: float) -> float:
    """How much further a client rate of shed requests strays than a binomial of its own value: a pool that
    limits its calls passes a fixed number per second (§B.4), so the shed count is the pool's calls minus that
    number and varies as the share s of requests that call the pool does (each request picks its page at random,
    loadprofiles/), s(1-s)/N, not as value(1-value)/N, which is what the observed interval assumes."""
    if not phase.pool_limited or requests <= 0:
        return 0.0
    if h.measure not in ("error_rate", "success_rate") and not (h.measure == "flag_rate" and h.flag == "UO"):
        return 0.0
    reach = min(1.0, sum(phase.pool_calls.values()) / phase.nominal_rate) if phase.nominal_rate else 0.0
    p = 1 - value if h.measure == "success_rate" else value
    spread = Z95 * (math.sqrt(reach * (1 - reach)) - math.sqrt(p * (1 - p))) / math.sqrt(requests)
    if spread > 0 and phase.bound == "value":
        phase.assume(f"{reach:.3g} of the requests call a limited pool, which passes a fixed number per second: "
                     f"the shed count varies as that share does (±{spread:.2g} beyond a binomial of the rate, at "
                     f"~{requests:.0f} requests)")
    return max(0.0, spread)


def _hit(h: Hypothesis) -> Callable[[Branch, str], bool]:
    if h.measure == "flag_rate":
        flag = h.flag or ""
        return lambda b, cls: cls == flag if h.source == "client" else flag in b.flag.split(",")
    return lambda b, cls: not b.ok


def _latency(dist: Dist, q: float, phase: Phase, count: float) -> Value | None:
    """The q-quantile (ms). When 1-q lies within sampling noise of a share of slow outcomes (a delay's
    percentage, §A.5), a sample of ``count`` requests may put its quantile on either side of the boundary."""
    found = quantile(dist, q, count)
    if found is None:
        return None
    value, low, high = (x * 1000 for x in found)
    if low != high:
        phase.assume(f"with ~{count:.0f} requests the share above the q={q:g} quantile is within sampling noise "
                     f"(±{QUANTILE_Z:g} sd of a binomial) of a mixture boundary: a sample's quantile may be "
                     f"{low:.0f} or {high:.0f} ms")
    return value, low, high + OVERHEAD_MS


def _window_s(h: Hypothesis, phase: Phase) -> float:
    return judged_part_s(h, phase.window_s)


def _transient_failures(phase: Phase) -> float:
    """Failed requests before each ejection: the threshold's consecutive errors reach the caller, which fails the
    request unless its route retries them on another host (§A.4) or the call is optional."""
    total = 0.0
    for ejection in phase.ejections.values():
        if ejection.retried:
            continue
        chains = [c for c in phase.view.chains if c.last.caller.name == ejection.caller
                  and c.last.service == ejection.service]
        if not chains or any(hop.optional for c in chains[:1] for hop in c.hops):
            continue
        total += ejection.cycles(phase.window_s) * ejection.threshold
    return total


# -- the mesh's view -----------------------------------------------------------------------------------


def _calls(h: Hypothesis, phase: Phase) -> list[tuple[float, Dist]]:
    """The calls into the hypothesis' service from its source workload: rate/s and outcomes, every cohort."""
    probe = h.model_copy(update={"source": "mesh"})
    found = []
    for cohort, rate in _cohorts(phase, h.model_copy(update={"source": "client", "cohort": "all"}), "all"):
        for chain in units_of(phase.view, probe):
            reach = 1.0
            for size in range(1, len(chain.hops)):  # calls above that never reach their upstream make none below
                parent = type(chain)(chain.request, chain.share, chain.hops[:size])
                reach *= sum(b.p * b.attempts for b in phase.model.call(parent, cohort.headers))
            found.append((rate * chain.share * reach, phase.model.call(chain, cohort.headers)))
    return found


def _mesh(h: Hypothesis, phase: Phase) -> Value | None:
    calls = _calls(h, phase)
    total = sum(rate for rate, _ in calls)
    if total <= 0:
        return None
    if h.measure == "request_rate":
        return total, total, total
    dist = tuple(Branch(b.p * rate / total, b.latency_s, b.status, b.flag) for rate, d in calls for b in d)
    if h.measure in QUANTILES:
        return _latency(dist, QUANTILES[h.measure], phase, total * _window_s(h, phase))
    hit = _hit(h)
    value = share(dist, lambda b: hit(b, client_class(b)))
    extra = 0.0
    if h.measure in ("error_rate", "success_rate") and phase.faulty:
        extra = sum(e.cycles(phase.window_s) * e.threshold for e in _ejections(h, phase) if not e.retried)
    window_calls = total * _window_s(h, phase)  # the calls the hypothesis's window counts
    if h.measure == "flag_rate" and h.flag == "UH" and phase.faulty and window_calls > 0:
        # the calls that trip an ejection are answered by the failing host itself (503, no UH); only later ones
        # find no healthy host (§B.3, E17). Whether they fall in the mesh window depends on the scrapes.
        before = sum(e.cycles(phase.window_s) * e.threshold for e in _ejections(h, phase))
        if before and value > 0:
            phase.assume(f"the ~{before:.0f} calls that trip the ejection are answered by the host (not UH, §B.3); "
                         "they may fall inside or before the window")
            return value, max(0.0, value - before / window_calls), value
    if extra and window_calls > 0:
        # the failures before an ejection may precede the window's first scrape (inner edges): low adds none
        low, high = value, min(1.0, value + TRANSIENT_SPREAD * extra / window_calls)
        mid = min(1.0, value + extra / window_calls)
        return (1 - mid, 1 - high, 1 - low) if h.measure == "success_rate" else (mid, low, high)
    return (1 - value,) * 3 if h.measure == "success_rate" else (value,) * 3


def _ejections(h: Hypothesis, phase: Phase) -> list[Ejection]:
    """The ejections by the hypothesis' source workload's proxy of its service's hosts (per subset cluster)."""
    if not phase.faulty or h.service is None:
        return []
    service = phase.view.service_of(phase.view.fqdn(h.service))
    return [e for e in phase.ejections.values() if e.service == service
            and (h.subset is None or e.subset == h.subset)
            and (h.source_workload is None or e.caller == h.source_workload)]


def _counter(h: Hypothesis, phase: Phase) -> Value | None:
    window = _window_s(h, phase)
    calls = _calls(h, phase)
    if not calls:
        return None
    in_subset = [(rate, tuple(b for b in d if h.subset is None or b.subset == h.subset)) for rate, d in calls]
    per_call = {"retries": lambda b: b.retries, "timeouts": lambda b: b.timeouts,
                "per_try_timeouts": lambda b: b.per_try_timeouts,
                "overflows": lambda b: 1.0 if "UO" in b.flag.split(",") else 0.0,
                "ejections": lambda b: 0.0}[h.measure]
    steady = sum(rate * window * sum(b.p * per_call(b) for b in d) for rate, d in in_subset)
    ejections = _ejections(h, phase)
    if h.measure == "ejections":
        count = float(sum(e.cycles(window) for e in ejections))
        return count, count, count
    if h.measure == "retries":
        extra = sum(e.cycles(window) * e.threshold for e in ejections if e.retried)
        return steady + extra, steady + extra, steady + TRANSIENT_SPREAD * extra
    return steady, steady, steady


# -- comparisons and bounds --------------------------------------------------------------------------------


def _combine(h: Hypothesis, side: Value, ref: Value) -> Value | None:
    if h.relation == "ratio":
        if ref[1] <= 0:
            return None
        return side[0] / ref[0] if ref[0] else side[0] / ref[2], side[1] / ref[2], side[2] / ref[1]
    return side[0] - ref[0], side[1] - ref[2], side[2] - ref[1]


def _bound(h: Hypothesis) -> str:
    if h.below is not None and h.above is not None:
        return f"between {h.above:g} and {h.below:g}"
    if h.below is not None:
        return f"below {h.below:g}"
    return f"above {h.above:g}" if h.above is not None else ""


def _meets(h: Hypothesis, low: float, high: float) -> bool | None:
    """True when the whole predicted range meets the bound, False when it wholly violates it."""
    if h.below is None and h.above is None:
        return None
    meets = (h.below is None or high < h.below) and (h.above is None or low > h.above)
    if meets:
        return True
    violates = (h.below is not None and low >= h.below) or (h.above is not None and high <= h.above)
    return False if violates else None
