"""VirtualService http routes -> Envoy routes, with Istio's defaults (pilot ``route.go``, ``retry.go``).

See ``shared/reference/istio-envoy-semantics.md`` §A for each rule and its source.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.istio import HTTPRoute, cluster_name, envoy_duration, gateway_ref, parse_duration_s, resolve_host
from harness.istio._resources import (
    Abort,
    Delay,
    HeaderOperations,
    HTTPFaultInjection,
    HTTPMatchRequest,
    HTTPRetry,
    StringMatch,
)

FAULT_FILTER = "envoy.filters.http.fault"
FAULT_TYPE = "type.googleapis.com/envoy.extensions.filters.http.fault.v3.HTTPFault"
PREVIOUS_HOSTS = {
    "name": "envoy.retry_host_predicates.previous_hosts",
    "typed_config": {"@type": "type.googleapis.com/envoy.extensions.retry.host.previous_hosts.v3.PreviousHostsPredicate"},
}
# Istio >= 1.24 default (no retriable_status_codes, so "retriable-status-codes" matches nothing): retry.go
DEFAULT_RETRY_ON = "connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes"
RETRY_ON_TOKENS = frozenset({
    "5xx", "gateway-error", "reset", "reset-before-request", "connect-failure", "retriable-4xx", "refused-stream",
    "retriable-status-codes", "retriable-headers", "envoy-ratelimited", "http3-post-connect-failure", "cancelled",
    "deadline-exceeded", "internal", "resource-exhausted", "unavailable",
})
GRPC_STATUS = {
    "OK": 0, "CANCELLED": 1, "UNKNOWN": 2, "INVALID_ARGUMENT": 3, "DEADLINE_EXCEEDED": 4, "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6, "PERMISSION_DENIED": 7, "RESOURCE_EXHAUSTED": 8, "FAILED_PRECONDITION": 9, "ABORTED": 10,
    "OUT_OF_RANGE": 11, "UNIMPLEMENTED": 12, "INTERNAL": 13, "UNAVAILABLE": 14, "DATA_LOSS": 15,
    "UNAUTHENTICATED": 16,
}
KNOWN_HTTP_STATUS = frozenset(range(100, 104)) | frozenset(range(200, 209)) | {226} | frozenset(range(300, 309)) \
    | frozenset(range(400, 419)) | frozenset(range(421, 427)) | {428, 429, 431, 451} \
    | frozenset(range(500, 509)) | {510, 511}


class RouteError(ValueError):
    """A route that Istio's validation would reject; ``field`` is relative to the http route."""

    def __init__(self, field: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class RouteContext:
    """Everything about the proxy and listener a route is generated for."""

    namespace: str              # the VirtualService's namespace (short names resolve here)
    listener_port: int
    proxy_labels: dict[str, str]
    proxy_gateways: frozenset[str]  # {"mesh"} for sidecars, {"ns/name"} for a gateway
    port_of: Callable[[str], int | None]  # FQDN -> the service's only port (None if unknown)


def default_route(cluster: str) -> dict[str, Any]:
    """The route a sidecar gets for a service without VirtualService."""
    return {"name": "default", "match": {"prefix": "/", "case_sensitive": True},
            "route": {"cluster": cluster, "timeout": "0s", "retry_policy": retry_policy(None)}}


def translate_http_routes(routes: list[HTTPRoute], ctx: RouteContext) -> list[dict[str, Any]]:
    """Translate a VirtualService's ``http`` list, stopping after a catch-all as Istio does."""
    out: list[dict[str, Any]] = []
    for index, route in enumerate(routes):
        try:
            translated = _translate_route(route, ctx)
        except RouteError as exc:
            raise RouteError((index,) + exc.field, str(exc)) from None
        out.extend(translated)
        if not route.match or any(is_catch_all(r["match"]) for r in translated):
            break
    return out


def is_catch_all(match: dict[str, Any]) -> bool:
    plain = match.get("prefix") == "/" or match.get("safe_regex", {}).get("regex") == ".*"
    return plain and not match.get("headers") and not match.get("query_parameters")


def _translate_route(route: HTTPRoute, ctx: RouteContext) -> list[dict[str, Any]]:
    action = _route_action(route, ctx)
    extras: dict[str, Any] = {}
    if route.fault is not None:
        extras["typed_per_filter_config"] = {FAULT_FILTER: fault_config(route.fault)}
    if route.headers is not None:
        extras.update(_header_ops(route.headers.request, "request"))
        extras.update(_header_ops(route.headers.response, "response"))
    matches: list[HTTPMatchRequest | None] = list(route.match) or [None]
    out = []
    for match in matches:
        if match is not None and not _applies(match, ctx):
            continue
        name = route.name or ""
        if match is not None and match.name and name:
            name = f"{name}.{match.name}"
        envoy_route: dict[str, Any] = {"match": route_match(match), "route": action, **extras}
        if name:
            envoy_route["name"] = name
        out.append(envoy_route)
    return out


def _applies(match: HTTPMatchRequest, ctx: RouteContext) -> bool:
    """Config-time selectors: port, gateways, sourceLabels (route.go ``sourceMatchHTTP``)."""
    if match.port and match.port != ctx.listener_port:
        return False
    if match.gateways:
        return bool({gateway_ref(g, ctx.namespace) for g in match.gateways} & ctx.proxy_gateways)
    return all(ctx.proxy_labels.get(k) == v for k, v in match.source_labels.items())


def route_match(match: HTTPMatchRequest | None) -> dict[str, Any]:
    """``TranslateRouteMatch``: default prefix '/', case_sensitive always set, headers sorted by name."""
    out: dict[str, Any] = {"prefix": "/"}
    if match is None:
        return {**out, "case_sensitive": True}
    if match.uri is not None:
        out = _uri_match(match.uri)
    out["case_sensitive"] = not match.ignore_uri_case
    headers = [_header_matcher(name, m) for name, m in match.headers.items()]
    headers += [_header_matcher(name, m, invert=True) for name, m in match.without_headers.items()]
    if match.method is not None:
        headers.append(_header_matcher(":method", match.method))
    if match.authority is not None:
        headers.append(_header_matcher(":authority", match.authority))
    if headers:
        out["headers"] = sorted(headers, key=lambda h: h["name"])
    if match.query_params:
        out["query_parameters"] = [_query_matcher(name, m) for name, m in sorted(match.query_params.items())]
    return out


def _uri_match(uri: StringMatch) -> dict[str, Any]:
    if uri.exact is not None:
        return {"path": uri.exact}
    if uri.regex is not None:
        return {"safe_regex": {"regex": uri.regex}}
    return {"prefix": uri.prefix if uri.prefix is not None else "/"}


def _string_match(m: StringMatch) -> dict[str, Any] | None:
    if m.exact is not None:
        return {"exact": m.exact}
    if m.prefix is not None:
        return {"prefix": m.prefix}
    if m.regex is not None and m.regex != "*":
        return {"safe_regex": {"regex": m.regex}}
    return None  # empty match or regex "*": presence only (canBeConvertedToPresentMatch)


def _header_matcher(name: str, m: StringMatch, *, invert: bool = False) -> dict[str, Any]:
    string_match = _string_match(m)
    out: dict[str, Any] = {"name": name.lower()}
    if string_match is None:
        out["present_match"] = True
    else:
        out["string_match"] = string_match
        if invert:
            out["treat_missing_header_as_empty"] = True
    if invert:
        out["invert_match"] = True
    return out


def _query_matcher(name: str, m: StringMatch) -> dict[str, Any]:
    string_match = _string_match(m)
    return {"name": name, "present_match": True} if string_match is None else {"name": name, "string_match": string_match}


def _route_action(route: HTTPRoute, ctx: RouteContext) -> dict[str, Any]:
    if not route.route:
        raise RouteError(("route",), "an http route needs at least one destination")
    destinations = route.route if len(route.route) == 1 else [d for d in route.route if d.weight > 0]
    if not destinations:
        raise RouteError(("route",), "with several destinations, the weights must add up to more than 0")
    names = []
    for dest in destinations:
        fqdn = resolve_host(dest.destination.host, ctx.namespace)
        port = dest.destination.port.number if dest.destination.port else ctx.port_of(fqdn) or ctx.listener_port
        names.append(cluster_name(port, dest.destination.subset, fqdn))
    action: dict[str, Any]
    if len(names) == 1:
        action = {"cluster": names[0]}
    else:
        action = {"weighted_clusters": {"clusters": [
            {"name": n, "weight": d.weight} for n, d in zip(names, destinations, strict=True)]}}
    # VS timeout unset means disabled; Envoy's own default would be 15 s, so write 0s (route.go setTimeout)
    action["timeout"] = envoy_duration(parse_duration_s(route.timeout)) if route.timeout else "0s"
    policy = retry_policy(route.retries)
    if policy is not None:
        action["retry_policy"] = policy
    if route.rewrite is not None:
        if route.rewrite.uri is not None:
            action["prefix_rewrite"] = route.rewrite.uri
        if route.rewrite.authority is not None:
            action["host_rewrite_literal"] = route.rewrite.authority
    return action


def retry_policy(retries: HTTPRetry | None) -> dict[str, Any] | None:
    """``retry.ConvertPolicy``: the mesh default when unset, none when attempts is 0."""
    policy: dict[str, Any] = {"num_retries": 2, "retry_on": DEFAULT_RETRY_ON,
                              "retry_host_predicate": [PREVIOUS_HOSTS], "host_selection_retry_max_attempts": "5"}
    if retries is None:
        return policy
    attempts = retries.attempts or 0
    if attempts <= 0:
        if retries.per_try_timeout or retries.retry_on:
            raise RouteError(("retries", "attempts"),
                             "retries with perTryTimeout or retryOn need attempts > 0 (0 disables retries)")
        return None
    policy["num_retries"] = attempts
    if retries.retry_on:
        policy.update(_parse_retry_on(retries.retry_on))
    if retries.per_try_timeout:
        policy["per_try_timeout"] = envoy_duration(parse_duration_s(retries.per_try_timeout))
    if retries.retry_ignore_previous_hosts is False:
        del policy["retry_host_predicate"]
    if retries.backoff:
        policy["retry_back_off"] = {"base_interval": envoy_duration(parse_duration_s(retries.backoff))}
    return policy


def _parse_retry_on(text: str) -> dict[str, Any]:
    """Numeric tokens go to retriable_status_codes (``retry.parseRetryOn``)."""
    tokens, codes = [], []
    for raw in text.split(","):
        token = raw.strip()
        if not token:
            continue
        if token.isdigit() and int(token) in KNOWN_HTTP_STATUS:
            codes.append(int(token))
        elif token in RETRY_ON_TOKENS:
            tokens.append(token)
        else:
            raise RouteError(("retries", "retryOn"), f"{token!r} is not a retry condition "
                             f"(one of {', '.join(sorted(RETRY_ON_TOKENS))}, or an HTTP status code)")
    if codes and "retriable-status-codes" not in tokens:
        tokens.append("retriable-status-codes")
    out: dict[str, Any] = {"retry_on": ",".join(tokens)}
    if codes:
        out["retriable_status_codes"] = codes
    return out


def fault_percentage(percentage: Any, percent: int | None) -> dict[str, Any]:
    """Istio's ``uint32(value*10000)`` per million (truncating); the int ``percent`` is per hundred."""
    if percentage is not None:
        return {"numerator": int(percentage.value * 10000), "denominator": "MILLION"}
    return {"numerator": percent or 0, "denominator": "HUNDRED"}


def fault_config(fault: HTTPFaultInjection) -> dict[str, Any]:
    """``TranslateFault``: no percentage means the fault never fires."""
    out: dict[str, Any] = {"@type": FAULT_TYPE}
    if fault.delay is not None:
        out["delay"] = _delay(fault.delay)
    if fault.abort is not None:
        out["abort"] = _abort(fault.abort)
    return out


def _delay(delay: Delay) -> dict[str, Any]:
    if delay.fixed_delay is None:
        raise RouteError(("fault", "delay", "fixedDelay"), "a delay needs fixedDelay")
    return {"fixed_delay": envoy_duration(parse_duration_s(delay.fixed_delay)),
            "percentage": fault_percentage(delay.percentage, delay.percent)}


def _abort(abort: Abort) -> dict[str, Any]:
    out: dict[str, Any]
    if abort.http_status is not None:
        out = {"http_status": abort.http_status}
    elif abort.grpc_status is not None:
        if abort.grpc_status not in GRPC_STATUS:
            raise RouteError(("fault", "abort", "grpcStatus"), f"unknown gRPC status {abort.grpc_status!r}")
        out = {"grpc_status": GRPC_STATUS[abort.grpc_status]}
    else:
        raise RouteError(("fault", "abort"), "an abort needs httpStatus or grpcStatus")
    if abort.percentage is not None:
        out["percentage"] = fault_percentage(abort.percentage, None)
    return out


def _header_ops(ops: HeaderOperations | None, direction: str) -> dict[str, Any]:
    if ops is None:
        return {}
    out: dict[str, Any] = {}
    add = [{"header": {"key": k, "value": v}, "append_action": "OVERWRITE_IF_EXISTS_OR_ADD"}
           for k, v in ops.set.items() if not k.startswith(":") and k.lower() != "host"]
    add += [{"header": {"key": k, "value": v}, "append_action": "APPEND_IF_EXISTS_OR_ADD"}
            for k, v in ops.add.items() if not k.startswith(":") and k.lower() != "host"]
    if add:
        out[f"{direction}_headers_to_add"] = add
    if ops.remove:
        out[f"{direction}_headers_to_remove"] = list(ops.remove)
    return out
