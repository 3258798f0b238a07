"""Merge a fault into a VirtualService spec, and take it out again. Pure functions on specs.

The fault goes on a copy of each affected route, scoped (by default) to requests carrying this
run's header and placed right before its original, so priority between routes is unchanged and
everything else in the spec stays exactly as it was (semantics reference §A.1, §A.5).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from harness.errors import ExperimentError
from harness.experiment import RUN_HEADER, Fault

CHAOS_PREFIX = "chaos-"


def chaos_route_prefix(run_id: str) -> str:
    return f"{CHAOS_PREFIX}{run_id}-"


def merge_fault(spec: Mapping[str, Any], fault: Fault, run_id: str) -> dict[str, Any]:
    """Return a new spec with a fault-carrying copy before each affected http route."""
    merged = copy.deepcopy(dict(spec))
    routes = list(merged.get("http") or [])
    names = [r.get("name") for r in routes]
    if fault.routes != "all":
        missing = [n for n in fault.routes if n not in names]
        if missing:
            raise ExperimentError(f"fault on {fault.host}: no http route named {', '.join(missing)}", [],
                                  hint=f"routes in the VirtualService: {', '.join(str(n) for n in names)}")
    selected = [i for i, r in enumerate(routes) if _selected(r, fault)]
    if not selected:
        raise ExperimentError(f"fault on {fault.host}: no http route matches routeMatch {fault.route_match}", [],
                              hint="routeMatch selects routes with a match entry containing all its fields")
    out: list[dict[str, Any]] = []
    for index, route in enumerate(routes):
        if index in selected:
            out.append(_chaos_copy(route, index, fault, run_id))
        out.append(route)
    merged["http"] = out
    return merged


def _selected(route: Mapping[str, Any], fault: Fault) -> bool:
    if fault.routes != "all" and route.get("name") not in fault.routes:
        return False
    if fault.route_match is None:
        return True
    return any(_contains(match, fault.route_match) for match in route.get("match") or [])


def _contains(have: Any, want: Any) -> bool:
    """``want`` is a sub-document of ``have`` (every key it names has an equal or containing value)."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(k in have and _contains(have[k], v) for k, v in want.items())
    return bool(have == want)


def strip_fault(spec: Mapping[str, Any], run_id: str) -> dict[str, Any]:
    """Return a new spec without this run's chaos routes (everything else untouched)."""
    stripped = copy.deepcopy(dict(spec))
    prefix = chaos_route_prefix(run_id)
    stripped["http"] = [r for r in stripped.get("http") or [] if not str(r.get("name", "")).startswith(prefix)]
    return stripped


def has_fault(spec: Mapping[str, Any], run_id: str) -> bool:
    prefix = chaos_route_prefix(run_id)
    return any(str(r.get("name", "")).startswith(prefix) for r in spec.get("http") or [])


def new_virtual_service_spec(host: str, fault: Fault, run_id: str) -> dict[str, Any]:
    """A VirtualService for a host that has none: a plain route to the host, plus the fault."""
    base = {"hosts": [host], "http": [{"name": "default", "route": [{"destination": {"host": host}}]}]}
    return merge_fault(base, fault, run_id)


def fault_block(fault: Fault) -> dict[str, Any]:
    """The fault in Istio's own YAML shape."""
    block: dict[str, Any] = {}
    if fault.delay is not None:
        block["delay"] = {"fixedDelay": fault.delay.fixed_delay, "percentage": {"value": fault.delay.percentage}}
    if fault.abort is not None:
        status = ({"httpStatus": fault.abort.http_status} if fault.abort.http_status is not None
                  else {"grpcStatus": fault.abort.grpc_status})
        block["abort"] = {**status, "percentage": {"value": fault.abort.percentage}}
    return block


def _scope_headers(fault: Fault, run_id: str) -> dict[str, Any]:
    headers = {name: m.model_dump(exclude_none=True) for name, m in fault.scope.headers.items()}
    if fault.scope.traffic == "run":
        headers[RUN_HEADER] = {"exact": run_id}
    return headers


def _chaos_copy(route: Mapping[str, Any], index: int, fault: Fault, run_id: str) -> dict[str, Any]:
    chaos = copy.deepcopy(dict(route))
    chaos["name"] = f"{chaos_route_prefix(run_id)}{route.get('name') or index}"
    headers = _scope_headers(fault, run_id)
    labels = dict(fault.scope.source_labels)
    matches = [dict(m) for m in chaos.get("match") or []] or ([{}] if headers or labels else [])
    for match in matches:
        if headers:
            match["headers"] = {**(match.get("headers") or {}), **headers}
        if labels:
            match["sourceLabels"] = {**(match.get("sourceLabels") or {}), **labels}
    if matches:
        chaos["match"] = matches
    chaos["fault"] = fault_block(fault)
    return chaos
