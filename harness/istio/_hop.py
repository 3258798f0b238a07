"""What one proxy does with one call: the route it picks (timeout, retries, fault) and the cluster policy.

Every rule here restates the semantics reference (shared/reference/istio-envoy-semantics.md); the
section is named beside it. Objects are read as Kubernetes JSON, the way backends return them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.istio._duration import parse_duration_s
from harness.istio._naming import GATEWAY_MESH, gateway_ref, resolve_host

MeshObject = dict[str, Any]
# A.4: Istio's default retry policy since 1.24 (no retriable_status_codes, so app 503s are not retried)
DEFAULT_RETRY_ON = frozenset({"connect-failure", "refused-stream", "unavailable", "cancelled",
                              "retriable-status-codes"})
DEFAULT_MAX_EJECTION_PERCENT = 10  # B.2/B.3: Envoy's default when Istio leaves it unset


def percent_fraction(value: float | None) -> float:
    """Istio's ``uint32(value*10000)`` parts per million, as a fraction (A.5: truncation, not rounding)."""
    return 0.0 if value is None else int(value * 10000) / 1_000_000


@dataclass(frozen=True)
class Retry:
    """An Envoy retry_policy as Istio writes it (A.4)."""

    retries: int
    per_try_s: float | None = None
    retry_on: frozenset[str] = DEFAULT_RETRY_ON
    codes: frozenset[int] = frozenset()
    is_default: bool = False

    def retries_status(self, status: int) -> bool:
        """Whether an upstream answer with ``status`` is retried."""
        if status >= 500 and "5xx" in self.retry_on:
            return True
        if status in (502, 503, 504) and "gateway-error" in self.retry_on:
            return True
        return "retriable-status-codes" in self.retry_on and status in self.codes

    def retries_timeout(self) -> bool:
        """A per-try timeout is retried under ``5xx``/``gateway-error`` only (A.4: E10, E11)."""
        return bool({"5xx", "gateway-error"} & self.retry_on)


DEFAULT_RETRY = Retry(2, retry_on=DEFAULT_RETRY_ON, is_default=True)


def convert_retry(retries: Mapping[str, Any] | None) -> Retry | None:
    """``retries`` of an HTTP route as Envoy sees it; None means no retry_policy (``attempts: 0``)."""
    if retries is None:
        return DEFAULT_RETRY
    attempts = int(retries.get("attempts", DEFAULT_RETRY.retries) or 0)
    if attempts <= 0:
        return None
    per_try = retries.get("perTryTimeout")
    on, codes = DEFAULT_RETRY_ON, frozenset[int]()
    if retries.get("retryOn"):
        tokens = [t.strip() for t in str(retries["retryOn"]).split(",") if t.strip()]
        codes = frozenset(int(t) for t in tokens if t.isdigit())
        on = frozenset(t for t in tokens if not t.isdigit()) | (
            {"retriable-status-codes"} if codes else set())
    return Retry(attempts, parse_duration_s(per_try) if per_try else None, on, codes)


@dataclass(frozen=True)
class Fault:
    delay_s: float = 0.0
    delay_fraction: float = 0.0
    abort_status: int | None = None
    abort_fraction: float = 0.0


def convert_fault(fault: Mapping[str, Any] | None) -> Fault | None:
    """A route's ``fault`` with Istio's percentages: unset ``percentage`` never fires (A.5, E3)."""
    if not fault:
        return None
    delay, abort = fault.get("delay") or {}, fault.get("abort") or {}
    delay_fraction = (percent_fraction((delay.get("percentage") or {}).get("value")) if "percentage" in delay
                      else float(delay.get("percent", 0)) / 100)
    return Fault(parse_duration_s(delay["fixedDelay"]) if delay.get("fixedDelay") else 0.0, delay_fraction,
                 abort.get("httpStatus") or (503 if abort.get("grpcStatus") else None),
                 percent_fraction((abort.get("percentage") or {}).get("value")))


@dataclass(frozen=True)
class Route:
    """The route a proxy picked: where it came from, and what Envoy's router and fault filter do."""

    source: str                   # "VirtualService ns/name http[i]" or "no VirtualService (Istio's default route)"
    name: str | None
    timeout_s: float | None       # None: disabled (A.3, Istio writes 0s)
    retry: Retry | None
    fault: Fault | None
    destinations: tuple[tuple[str | None, float], ...] = ((None, 1.0),)  # (subset, weight share)
    index: int = -1
    vs: MeshObject | None = None


@dataclass(frozen=True)
class Caller:
    """A proxy making calls: a sidecar (gateways {"mesh"}) or a gateway ({"ns/name", ...})."""

    name: str
    labels: Mapping[str, str]
    gateways: frozenset[str] = frozenset({GATEWAY_MESH})
    headers: Mapping[str, str] = field(default_factory=dict)


def virtual_services_for(objects: Sequence[MeshObject], fqdn: str, caller: Caller, namespace: str
                         ) -> list[MeshObject]:
    """VirtualServices a caller applies to ``fqdn`` (A.1: gateways decide which proxies get a VS)."""
    found = []
    for vs in objects:
        ns = vs["metadata"].get("namespace", namespace)
        spec = vs.get("spec") or {}
        bound = {gateway_ref(g, ns) for g in spec.get("gateways") or [GATEWAY_MESH]}
        hosts = {resolve_host(h, ns) for h in spec.get("hosts") or []}
        if bound & caller.gateways and (fqdn in hosts or "*" in hosts):
            found.append(vs)
    return found


def pick_route(vs: MeshObject | None, caller: Caller, path: str, namespace: str) -> Route:
    """The first http route of ``vs`` whose match the call satisfies (A.1), converted."""
    if vs is None:
        return Route("no VirtualService (Istio's default route)", None, None, DEFAULT_RETRY, None)
    ns = vs["metadata"].get("namespace", namespace)
    for index, http in enumerate((vs.get("spec") or {}).get("http") or []):
        if not http.get("match") or any(_matches(m, caller, path, ns) for m in http["match"]):
            return Route(f"VirtualService {ns}/{vs['metadata']['name']} http[{index}]", http.get("name"),
                         parse_duration_s(http["timeout"]) or None if http.get("timeout") else None,
                         convert_retry(http.get("retries")), convert_fault(http.get("fault")),
                         _destinations(http), index, vs)
    return Route(f"VirtualService {ns}/{vs['metadata']['name']}: no route matches (404 NR)", None, None, None,
                 Fault(abort_status=404, abort_fraction=1.0), vs=vs)


def _matches(match: Mapping[str, Any], caller: Caller, path: str, namespace: str) -> bool:
    gateways = {gateway_ref(g, namespace) for g in match.get("gateways") or []}
    if gateways and not gateways & caller.gateways:
        return False
    if any(caller.labels.get(k) != v for k, v in (match.get("sourceLabels") or {}).items()):
        return False  # A.1: a selector on the proxy's own labels, not a runtime match
    for name, want in (match.get("headers") or {}).items():
        if not _string_match(want, caller.headers.get(name)):
            return False
    uri = match.get("uri")
    return uri is None or _string_match(uri, path)


def _string_match(want: Mapping[str, Any], have: str | None) -> bool:
    if have is None:
        return False
    if "exact" in want:
        return bool(have == want["exact"])
    if "prefix" in want:
        return have.startswith(str(want["prefix"]))
    return True  # regex and presence: assume the call matches (stated by the caller of the predictor)


def _destinations(http: Mapping[str, Any]) -> tuple[tuple[str | None, float], ...]:
    routes = [r for r in http.get("route") or [] if len(http["route"]) == 1 or r.get("weight", 0) > 0]
    total = sum(r.get("weight", 0) for r in routes) if len(routes) > 1 else 1
    return tuple(((r.get("destination") or {}).get("subset"),
                  (r.get("weight", 0) / total) if len(routes) > 1 else 1.0) for r in routes) or ((None, 1.0),)


@dataclass(frozen=True)
class Outlier:
    consecutive_5xx: int | None      # None: off (consecutive5xxErrors: 0)
    interval_s: float
    base_ejection_s: float
    max_percent: int

    def allowed_ejections(self, hosts: int) -> int:
        """Hosts Envoy may eject at once: ``100*(active+1)/hosts <= max`` (B.3, strict since envoy#27909)."""
        return max(0, (self.max_percent * hosts) // 100) if hosts else 0


@dataclass(frozen=True)
class Pool:
    max_connections: int | None = None
    max_pending: int | None = None
    max_requests: int | None = None

    def capacity(self) -> float:
        """Requests in flight before 503 UO: active (one per HTTP/1.1 connection) plus pending (B.4)."""
        active = min(v for v in (self.max_connections, self.max_requests, 2**32) if v is not None)
        return float(active + (self.max_pending if self.max_pending is not None else 2**32))


@dataclass(frozen=True)
class ClusterPolicy:
    source: str = "no DestinationRule"
    outlier: Outlier | None = None
    pool: Pool | None = None


def destination_rule_for(objects: Sequence[MeshObject], fqdn: str, namespace: str) -> MeshObject | None:
    return next((dr for dr in objects
                 if resolve_host((dr.get("spec") or {}).get("host", ""), dr["metadata"].get("namespace", namespace))
                 == fqdn), None)


def cluster_policy(dr: MeshObject | None, subset: str | None) -> ClusterPolicy:
    """The DR's policy for a (subset) cluster: a subset's block replaces the DR's block wholesale (B.1)."""
    if dr is None:
        return ClusterPolicy()
    spec = dr.get("spec") or {}
    policy = dict(spec.get("trafficPolicy") or {})
    for item in spec.get("subsets") or []:
        if item.get("name") == subset:
            policy.update(item.get("trafficPolicy") or {})
    where = f"DestinationRule {dr['metadata'].get('namespace')}/{dr['metadata']['name']}"
    return ClusterPolicy(where, _outlier(policy.get("outlierDetection")), _pool(policy.get("connectionPool")))


def _outlier(od: Mapping[str, Any] | None) -> Outlier | None:
    if od is None:
        return None
    c5xx = od.get("consecutive5xxErrors", 5)  # B.2: unset -> Envoy's 5, enforcing 100
    return Outlier(int(c5xx) or None, parse_duration_s(od.get("interval", "10s")),
                   parse_duration_s(od.get("baseEjectionTime", "30s")),
                   int(od.get("maxEjectionPercent") or DEFAULT_MAX_EJECTION_PERCENT))


def _pool(pool: Mapping[str, Any] | None) -> Pool | None:
    if not pool:
        return None
    tcp, http = pool.get("tcp") or {}, pool.get("http") or {}

    def positive(value: Any) -> int | None:  # B.4: zero values are ignored by Istio
        return int(value) if value and int(value) > 0 else None
    return Pool(positive(tcp.get("maxConnections")), positive(http.get("http1MaxPendingRequests")),
                positive(http.get("http2MaxRequests")))
