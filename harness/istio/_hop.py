"""What one proxy does with one call: the VirtualService route it picks, that route's timeout, retries and fault,
and the outlier detection of the cluster it sends to.

Every rule restates the semantics reference (``shared/reference/istio-envoy-semantics.md``); the section is
named beside it. These are the facts the linter reasons with; the sandbox's translator (harness/sandbox) turns
the same rules into Envoy config.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from harness.istio._duration import parse_duration_s
from harness.istio._naming import GATEWAY_MESH, gateway_ref, resolve_host
from harness.istio._resources import (
    DestinationRule,
    HTTPFaultInjection,
    HTTPMatchRequest,
    HTTPRetry,
    HTTPRoute,
    OutlierDetection,
    Percent,
    StringMatch,
    TrafficPolicy,
    VirtualService,
)

# A.4: Istio's default retry policy since 1.24 has no retriable_status_codes, so an app's 503 is not retried
DEFAULT_RETRY_ON = frozenset({"connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"})
DEFAULT_ATTEMPTS = 2
GATEWAY_ERRORS = frozenset({502, 503, 504})
# B.2: what Envoy uses when Istio leaves an outlierDetection field unset
DEFAULT_CONSECUTIVE_5XX = 5
DEFAULT_INTERVAL_S = 10.0
DEFAULT_BASE_EJECTION_S = 30.0
DEFAULT_MAX_EJECTION_PERCENT = 10


def istio_ppm(percent: float) -> int:
    """A percentage as Istio writes it for Envoy: ``uint32(value*10000)`` per million, truncated (A.5)."""
    return int(percent * 10000)


def istio_fraction(percent: float) -> float:
    return istio_ppm(percent) / 1_000_000


@dataclass(frozen=True)
class Retry:
    """An Envoy retry_policy as Istio writes it (A.4)."""

    attempts: int                     # retries after the first try (num_retries)
    per_try_timeout_s: float | None = None
    retry_on: frozenset[str] = DEFAULT_RETRY_ON
    status_codes: frozenset[int] = frozenset()
    previous_hosts: bool = True       # a retry prefers a host not tried yet (envoy.retry_host_predicates.previous_hosts)
    is_default: bool = False

    def retries_status(self, status: int) -> bool:
        """Whether an upstream answer with ``status`` is retried (Envoy's retry_on conditions)."""
        if status >= 500 and "5xx" in self.retry_on:
            return True
        if status in GATEWAY_ERRORS and "gateway-error" in self.retry_on:
            return True
        return "retriable-status-codes" in self.retry_on and status in self.status_codes

    def retries_timeouts(self) -> bool:
        """A per-try timeout is retried under ``5xx`` or ``gateway-error`` only (A.4: E10, E11)."""
        return bool({"5xx", "gateway-error"} & self.retry_on)

    def describe(self) -> str:
        if self.is_default:
            return "Istio's default retry policy (2 retries on connect-failure, refused-stream, unavailable, cancelled)"
        codes = f" + status {','.join(map(str, sorted(self.status_codes)))}" if self.status_codes else ""
        per_try = f", perTryTimeout {self.per_try_timeout_s:g}s" if self.per_try_timeout_s else ""
        return f"{self.attempts} retries on {','.join(sorted(self.retry_on - {'retriable-status-codes'}))}{codes}{per_try}"


DEFAULT_RETRY = Retry(DEFAULT_ATTEMPTS, is_default=True)


def retry_of(retries: HTTPRetry | None) -> Retry | None:
    """``retry.ConvertPolicy``: the mesh default when unset; no policy at all when ``attempts`` is 0 or missing."""
    if retries is None:
        return DEFAULT_RETRY
    if not retries.attempts or retries.attempts <= 0:
        return None
    retry_on, codes = DEFAULT_RETRY_ON, frozenset[int]()
    if retries.retry_on:
        tokens = [t.strip() for t in retries.retry_on.split(",") if t.strip()]
        codes = frozenset(int(t) for t in tokens if t.isdigit())
        # parseRetryOn appends retriable-status-codes when codes are given without it
        retry_on = frozenset(t for t in tokens if not t.isdigit()) | ({"retriable-status-codes"} if codes else set())
    per_try = parse_duration_s(retries.per_try_timeout) if retries.per_try_timeout else None
    return Retry(retries.attempts, per_try, retry_on, codes, retries.retry_ignore_previous_hosts is not False)


@dataclass(frozen=True)
class FaultEffect:
    """A route's fault as Envoy's fault filter applies it: shares already truncated as Istio writes them."""

    delay_s: float = 0.0
    delay_fraction: float = 0.0
    abort_status: int | None = None
    abort_fraction: float = 0.0

    @property
    def delays(self) -> bool:
        return self.delay_s > 0 and self.delay_fraction > 0

    @property
    def aborts(self) -> bool:
        return self.abort_status is not None and self.abort_fraction > 0


def share_of(percentage: Percent | None, percent: int | None = None) -> float:
    """A fault's share of requests; unset means never (A.5, verified E3), the deprecated int is per hundred."""
    if percentage is not None:
        return istio_fraction(percentage.value)
    return (percent or 0) / 100


def fault_of(fault: HTTPFaultInjection | None) -> FaultEffect | None:
    if fault is None:
        return None
    delay, abort = fault.delay, fault.abort
    status = None
    if abort is not None:
        status = abort.http_status if abort.http_status is not None else 503 if abort.grpc_status else None
    return FaultEffect(
        delay_s=parse_duration_s(delay.fixed_delay) if delay and delay.fixed_delay else 0.0,
        delay_fraction=share_of(delay.percentage, delay.percent) if delay else 0.0,
        abort_status=status,
        abort_fraction=share_of(abort.percentage) if abort else 0.0)


@dataclass(frozen=True)
class Caller:
    """A proxy making calls: a sidecar (gateway set ``{"mesh"}``) or a gateway (``{"ns/name", ...}``)."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    gateways: frozenset[str] = frozenset({GATEWAY_MESH})
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def is_gateway(self) -> bool:
        return GATEWAY_MESH not in self.gateways


def host_matches(pattern: str, host: str) -> bool:
    """A VirtualService or Gateway host against a request host: exact, ``*`` or a ``*.suffix`` wildcard.

    A request host of ``*`` stands for "not known" and matches every pattern."""
    if "*" in (pattern, host) or pattern == host:
        return True
    return pattern.startswith("*.") and host.endswith(pattern[1:])


def bound_gateways(vs: VirtualService) -> frozenset[str]:
    """The proxies a VirtualService is for: its ``gateways`` as ns/name, or ``mesh`` when none are listed (A.1)."""
    namespace = vs.metadata.namespace
    return frozenset(gateway_ref(g, namespace) for g in vs.spec.gateways or [GATEWAY_MESH])


def routes_host(vs: VirtualService, host: str) -> bool:
    return any(host_matches(resolve_host(h, vs.metadata.namespace), host) for h in vs.spec.hosts)


def virtual_services_for(virtual_services: Sequence[VirtualService], host: str, caller: Caller) -> list[VirtualService]:
    """The VirtualServices a caller applies to ``host``: bound to its gateway set and listing the host (A.1)."""
    return [vs for vs in virtual_services if bound_gateways(vs) & caller.gateways and routes_host(vs, host)]


@dataclass(frozen=True)
class Destination:
    host: str                 # FQDN
    subset: str | None
    port: int | None
    share: float              # of the route's requests (weights; a single destination gets all)


@dataclass(frozen=True)
class RouteChoice:
    """The route a proxy picks for a call, or Istio's default route when no VirtualService applies."""

    virtual_service: VirtualService | None
    index: int | None
    route: HTTPRoute | None
    host: str

    @property
    def timeout_s(self) -> float | None:
        """None: disabled (A.3: Istio writes ``timeout: 0s`` when the VirtualService sets none)."""
        if self.route is None or not self.route.timeout:
            return None
        return parse_duration_s(self.route.timeout) or None

    @property
    def retry(self) -> Retry | None:
        return retry_of(self.route.retries) if self.route is not None else DEFAULT_RETRY

    @property
    def fault(self) -> FaultEffect | None:
        return fault_of(self.route.fault) if self.route is not None else None

    @property
    def destinations(self) -> tuple[Destination, ...]:
        """Where the route sends (A.2): one destination gets everything, weight-0 ones are skipped otherwise."""
        if self.route is None or not self.route.route:
            return (Destination(self.host, None, None, 1.0),)
        namespace = self.virtual_service.metadata.namespace if self.virtual_service else "default"
        chosen = self.route.route if len(self.route.route) == 1 else [d for d in self.route.route if d.weight > 0]
        total = sum(d.weight for d in chosen) if len(chosen) > 1 else 0
        return tuple(Destination(resolve_host(d.destination.host, namespace), d.destination.subset,
                                 d.destination.port.number if d.destination.port else None,
                                 d.weight / total if total else 1.0) for d in chosen)

    def describe(self) -> str:
        if self.virtual_service is None:
            return f"no VirtualService for {self.host} (Istio's default route)"
        vs = self.virtual_service
        name = f" ({self.route.name})" if self.route is not None and self.route.name else ""
        return f"VirtualService {vs.metadata.namespace}/{vs.metadata.name} http[{self.index}]{name}"


def choose_route(vs: VirtualService | None, caller: Caller, host: str, path: str) -> RouteChoice | None:
    """The first http route of ``vs`` whose match the call satisfies (A.1); None when none does (404 NR)."""
    if vs is None:
        return RouteChoice(None, None, None, host)
    for index, route in enumerate(vs.spec.http):
        if not route.match or any(_matches(m, caller, path, vs.metadata.namespace) for m in route.match):
            return RouteChoice(vs, index, route, host)
    return None


def _matches(match: HTTPMatchRequest, caller: Caller, path: str, namespace: str) -> bool:
    if match.gateways and not {gateway_ref(g, namespace) for g in match.gateways} & caller.gateways:
        return False
    # A.1: sourceLabels select proxies by their own labels when config is generated; not a runtime match
    if any(caller.labels.get(k) != v for k, v in match.source_labels.items()):
        return False
    if any(not _string_matches(want, caller.headers.get(name)) for name, want in match.headers.items()):
        return False
    if any(_string_matches(want, caller.headers.get(name)) for name, want in match.without_headers.items()):
        return False
    if match.method is not None and not _string_matches(match.method, "GET"):
        return False  # the load's requests are GETs unless its profile says otherwise
    return match.uri is None or _string_matches(match.uri, path)


def _string_matches(want: StringMatch, have: str | None) -> bool:
    if have is None:
        return False
    if want.exact is not None:
        return have == want.exact
    if want.prefix is not None:
        return have.startswith(want.prefix)
    if want.regex is not None:
        return re.fullmatch(want.regex, have) is not None
    return True  # an empty match is a presence match (A.1, canBeConvertedToPresentMatch)


@dataclass(frozen=True)
class Outlier:
    """A cluster's outlier detection as Envoy runs it (B.2, B.3)."""

    consecutive_5xx: int | None           # None: off (consecutive5xxErrors: 0)
    consecutive_gateway: int | None       # None: off (Istio's default, enforcing 0)
    interval_s: float
    base_ejection_s: float
    max_ejection_percent: int
    max_ejection_percent_set: bool

    def ejectable_hosts(self, hosts: int) -> int:
        """Hosts Envoy may hold ejected at once: ``100*(active+1)/hosts <= max`` (B.3, strict since envoy#27909)."""
        return (self.max_ejection_percent * hosts) // 100 if hosts else 0

    def counts(self, status: int) -> bool:
        """Whether an upstream answer with ``status`` counts toward an ejection."""
        return (self.consecutive_5xx is not None and status >= 500) or (
            self.consecutive_gateway is not None and status in GATEWAY_ERRORS)

    def threshold(self, status: int) -> int | None:
        """Consecutive answers with ``status`` that eject a host (the lower of the limits that count it)."""
        limits = [self.consecutive_5xx if status >= 500 else None,
                  self.consecutive_gateway if status in GATEWAY_ERRORS else None]
        found = [limit for limit in limits if limit is not None]
        return min(found) if found else None


def outlier_of(od: OutlierDetection | None) -> Outlier | None:
    if od is None:
        return None
    consecutive = od.consecutive_5xx_errors if od.consecutive_5xx_errors is not None else DEFAULT_CONSECUTIVE_5XX
    return Outlier(
        consecutive_5xx=consecutive or None,
        consecutive_gateway=od.consecutive_gateway_errors or None,
        interval_s=parse_duration_s(od.interval) if od.interval else DEFAULT_INTERVAL_S,
        base_ejection_s=parse_duration_s(od.base_ejection_time) if od.base_ejection_time else DEFAULT_BASE_EJECTION_S,
        max_ejection_percent=od.max_ejection_percent or DEFAULT_MAX_EJECTION_PERCENT,
        max_ejection_percent_set=bool(od.max_ejection_percent))


def destination_rule_for(rules: Sequence[DestinationRule], host: str) -> DestinationRule | None:
    """The DestinationRule for an FQDN (the first one; Istio merges several only in special cases)."""
    return next((dr for dr in rules if resolve_host(dr.spec.host, dr.metadata.namespace) == host), None)


def subset_labels(rule: DestinationRule | None, subset: str | None) -> dict[str, str] | None:
    """The pod labels of a subset; ``{}`` for the whole service; None for a subset the rule does not define."""
    if subset is None:
        return {}
    if rule is None:
        return None
    found = next((s for s in rule.spec.subsets if s.name == subset), None)
    return dict(found.labels) if found is not None else None


def cluster_outlier(rule: DestinationRule | None, subset: str | None, port: int | None) -> OutlierDetection | None:
    """The outlierDetection of one (subset) cluster: port-level settings replace the whole policy, a subset's
    block replaces the rule's block (B.1)."""
    if rule is None:
        return None
    found = _port_level(rule.spec.traffic_policy, port)
    for item in rule.spec.subsets:
        if item.name == subset and item.traffic_policy is not None:
            found = _port_level(item.traffic_policy, port) or found
    return found


def _port_level(policy: TrafficPolicy | None, port: int | None) -> OutlierDetection | None:
    if policy is None:
        return None
    for level in policy.port_level_settings:
        if port is not None and level.port is not None and level.port.number == port:
            return level.outlier_detection
    return policy.outlier_detection
