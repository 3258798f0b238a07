"""HL6xx: data planes where VirtualService faults do not apply: ambient mode without a waypoint, sourceLabels on
waypoints, and Gateway API HTTPRoutes for the fault's host. Checked only where the backend could list them."""

from __future__ import annotations

from collections.abc import Mapping

from harness.lint._context import LintContext
from harness.lint._findings import Finding

DATAPLANE_MODE = "istio.io/dataplane-mode"
USE_WAYPOINT = "istio.io/use-waypoint"


def check_dataplane(ctx: LintContext) -> list[Finding]:
    live = ctx.view.live
    if live is None:
        return []
    findings: list[Finding] = []
    for target in ctx.view.targets:
        service = ctx.view.service_of(target.host)
        path = ("faults", target.index, "host")
        if _ambient(live.namespace_labels):
            waypoint = _waypoint(live.namespace_labels, (live.service_labels or {}).get(service))
            if waypoint is None and live.service_labels is not None:
                findings.append(ctx.finding(
                    "HL601", f"namespace {live.namespace} runs in ambient mode ({DATAPLANE_MODE}=ambient) and neither it "
                    f"nor Service {service} uses a waypoint ({USE_WAYPOINT}): nothing applies the fault", path,
                    obj=f"Namespace {live.namespace}"))
            elif waypoint is not None and target.fault.scope.source_labels:
                findings.append(ctx.finding(
                    "HL602", f"{service} is served by waypoint {waypoint!r}, which drops route matches on sourceLabels: "
                    "the fault scoped by scope.sourceLabels never applies",
                    ("faults", target.index, "scope", "sourceLabels"), obj=f"waypoint {waypoint}"))
        for route in live.http_routes or ():
            if service in route.services or any(h in (target.host, service) for h in route.hostnames):
                findings.append(ctx.finding(
                    "HL603", f"{route.ref} also routes {service}: HTTPRoutes have no fault injection, and Istio does not "
                    "support an HTTPRoute and a VirtualService for one workload", path, obj=route.ref))
    return findings


def _ambient(labels: Mapping[str, str] | None) -> bool:
    return labels is not None and labels.get(DATAPLANE_MODE) == "ambient"


def _waypoint(namespace_labels: Mapping[str, str] | None, service_labels: Mapping[str, str] | None) -> str | None:
    """The waypoint a service's traffic goes through (a Service's label wins over its namespace's; "none" opts out)."""
    for labels in (service_labels, namespace_labels):
        if labels and USE_WAYPOINT in labels:
            return None if labels[USE_WAYPOINT] == "none" else labels[USE_WAYPOINT]
    return None
