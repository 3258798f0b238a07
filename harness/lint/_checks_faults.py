"""HL4xx: fault percentages as Istio writes them. A policy's fault without a percentage never fires; a share
that does not survive Istio's truncation to parts per million fires less often than written (§A.5)."""

from __future__ import annotations

from harness.errors import Location
from harness.istio import VirtualService, istio_ppm
from harness.istio._resources import Delay
from harness.lint._context import LintContext
from harness.lint._findings import Finding


def check_faults(ctx: LintContext) -> list[Finding]:
    findings = []
    for index, fault in enumerate(ctx.exp.faults):
        for kind, block in (("delay", fault.delay), ("abort", fault.abort)):
            if block is not None and _truncated(block.percentage):
                findings.append(_truncation(ctx, block.percentage, f"faults[{index}].{kind}",
                                            ("faults", index, kind, "percentage")))
    for vs in ctx.view.virtual_services:
        if (vs.kind, vs.metadata.namespace, vs.metadata.name) in ctx.view.policies:
            findings += _policy_faults(ctx, vs)
    return findings


def _truncated(percent: float) -> bool:
    return istio_ppm(percent) != round(percent * 10000)


def _truncation(ctx: LintContext, percent: float, what: str, path: tuple[str | int, ...], *,
                obj: str | None = None, location: Location | None = None) -> Finding:
    ppm = istio_ppm(percent)
    return ctx.finding("HL402", f"{what}: {percent:g}% becomes {ppm} per million ({ppm / 10000:g}%) in Envoy, not "
                       f"{round(percent * 10000)}", path, obj=obj, object_location=location)


def _policy_faults(ctx: LintContext, vs: VirtualService) -> list[Finding]:
    """HL401/HL402 on the faults a policy file of the experiment brings."""
    meta = vs.metadata
    path = ctx.policy_path(vs.kind, meta.namespace, meta.name) or ("policies",)
    ref = f"VirtualService {meta.namespace}/{meta.name}"
    findings = []
    for index, route in enumerate(vs.spec.http):
        fault = route.fault
        if fault is None:
            continue
        for kind, block in (("delay", fault.delay), ("abort", fault.abort)):
            if block is None:
                continue
            where = ctx.view.policy_location(vs.kind, meta.namespace, meta.name, ("spec", "http", index, "fault", kind))
            obj = f"{ref} http[{index}].fault.{kind}"
            percent = block.percentage.value if block.percentage is not None else None
            if percent is None and not (isinstance(block, Delay) and block.percent is not None):
                findings.append(ctx.finding(
                    "HL401", f"{obj} has no percentage: Istio writes none and Envoy never fires it", path, obj=obj,
                    object_location=where, fix=f"set fault.{kind}.percentage.value in {ref} (100 for every request)"))
            elif percent is not None and _truncated(percent):
                findings.append(_truncation(ctx, percent, obj, path, obj=obj, location=where))
    return findings
