"""HL3xx: is the fault on the load's path? Gateway binding, hosts the gateway serves, one VirtualService per host,
a sidecar on the caller, and Sidecar resources that hide the host."""

from __future__ import annotations

from collections.abc import Mapping

from harness.istio import GATEWAY_MESH, Caller, VirtualService, bound_gateways, host_matches, namespace_of, routes_host
from harness.lint._context import LintContext
from harness.lint._findings import Finding, Severity
from harness.lint._view import FaultTarget
from harness.mesh import MeshObject

INJECTION_LABELS = ("istio-injection", "istio.io/rev")


def check_path(ctx: LintContext) -> list[Finding]:
    findings: list[Finding] = []
    for target in ctx.view.targets:
        findings += _refused(ctx, target)
        if target.original is None:
            continue
        findings += _gateway_binding(ctx, target, target.original)
        findings += _several(ctx, target)
        findings += _no_sidecar(ctx, target)
        findings += _hidden_by_sidecar(ctx, target)
    return findings


def _vs_ref(vs: VirtualService) -> str:
    return f"VirtualService {vs.metadata.namespace}/{vs.metadata.name}"


def _from_policy(ctx: LintContext, vs: VirtualService) -> bool:
    return (vs.kind, vs.metadata.namespace, vs.metadata.name) in ctx.view.policies


def _refused(ctx: LintContext, target: FaultTarget) -> list[Finding]:
    """HL304 (and HL303 when the run refuses several): the fault has no VirtualService to go into."""
    path = ("faults", target.index, "virtualService" if target.fault.virtual_service else "host")
    if target.created:
        if _served(ctx, target.host) is False:
            return [ctx.finding("HL304", f"no VirtualService routes {target.host}, and no Service or ServiceEntry "
                                "serves it: the VirtualService the run creates routes to nothing (503 NC)", path)]
        return [ctx.finding("HL304", f"no VirtualService routes {target.host}: the run creates one, with Istio's "
                            "defaults (no timeout, default retries) and the fault", path, severity=Severity.INFO,
                            fix="nothing to do if that is intended; the created VirtualService is deleted afterwards")]
    if target.refusal is None or not ctx.has_live:
        return []  # without live objects, "no VirtualService" says nothing about the cluster
    code = "HL303" if target.refusal.startswith("several VirtualServices") else "HL304"
    unknown = "" if _served(ctx, target.host) is not False else (
        f"; no Service or ServiceEntry is named {target.host} either (a typo?)")
    return [ctx.finding(code, f"harness run would refuse this fault: {target.refusal}{unknown}", path,
                        severity=Severity.ERROR)]


def _served(ctx: LintContext, fqdn: str) -> bool | None:
    """Whether a Service (of the namespace read) or a ServiceEntry serves ``fqdn``; None when that is not known."""
    live = ctx.view.live
    if any(host_matches(h, fqdn) for h in ctx.view.service_entry_hosts):
        return True
    if live is None or live.service_labels is None or namespace_of(fqdn) != live.namespace:
        return None
    return ctx.view.service_of(fqdn) in live.service_labels


def _sidecar_callers(ctx: LintContext, target: FaultTarget) -> list[Caller]:
    """The sidecar proxies that call the fault's host on the load's path (the scope's sourceLabels when set)."""
    service = ctx.view.service_of(target.host)
    callers = {c.last.caller.name: c.last.caller for c in ctx.view.chains_to(service) if not c.last.caller.is_gateway}
    labels = target.fault.scope.source_labels
    if labels:
        gateway = ctx.view.graph.gateway.labels
        if all(gateway.get(k) == v for k, v in labels.items()):
            return []
        chosen = [c for c in callers.values() if all(c.labels.get(k) == v for k, v in labels.items())]
        return chosen or [Caller(" ".join(f"{k}={v}" for k, v in labels.items()), dict(labels))]
    return list(callers.values())


def _gateway_binding(ctx: LintContext, target: FaultTarget, vs: VirtualService) -> list[Finding]:
    """HL301/HL302: a gateway-only VirtualService for sidecar callers, and hosts its Gateways do not serve."""
    findings = []
    bound = bound_gateways(vs)
    path = ("faults", target.index, "host")
    location = ctx.view.policy_location(vs.kind, vs.metadata.namespace, vs.metadata.name, ("spec", "gateways"))
    callers = _sidecar_callers(ctx, target)
    if GATEWAY_MESH not in bound and callers:
        findings.append(ctx.finding(
            "HL301", f"{_vs_ref(vs)} is bound to {', '.join(sorted(bound))} but not to mesh, and "
            f"{', '.join(sorted(c.name for c in callers))} call {target.host.split('.')[0]} through a sidecar: "
            "the fault never meets those calls", path, obj=f"{_vs_ref(vs)}: gateways {sorted(bound)}",
            object_location=location))
    for ref in sorted(bound - {GATEWAY_MESH}):
        gateway = next((g for g in ctx.view.gateways if f"{g.metadata.namespace}/{g.metadata.name}" == ref), None)
        if gateway is None:
            if ctx.has_live:
                findings.append(ctx.finding("HL302", f"{_vs_ref(vs)} is bound to Gateway {ref}, which does not exist: "
                                            "no gateway routes by it", path, obj=_vs_ref(vs), object_location=location))
            continue
        served = [h.split("/", 1)[-1] for server in gateway.spec.servers for h in server.hosts]
        missing = [h for h in vs.spec.hosts if not any(host_matches(s, h) or host_matches(h, s) for s in served)]
        if missing:
            findings.append(ctx.finding(
                "HL302", f"Gateway {ref} serves {', '.join(served)}, not {', '.join(missing)} of {_vs_ref(vs)}: "
                "the gateway has no route for them", path, obj=f"Gateway {ref}", object_location=location))
    request_host = ctx.exp.target.host
    if bound - {GATEWAY_MESH} and request_host and not routes_host(vs, request_host):
        findings.append(ctx.finding(
            "HL302", f"the load sends Host {request_host}, which {_vs_ref(vs)} (hosts {', '.join(vs.spec.hosts)}) does "
            "not route: the gateway never uses it for the load", ("target", "host"), obj=_vs_ref(vs),
            object_location=location))
    return findings


def _several(ctx: LintContext, target: FaultTarget) -> list[Finding]:
    """HL303: other VirtualServices (any namespace) for the same host and the same proxies."""
    original = target.original
    assert original is not None
    bound = bound_gateways(original)
    others = [vs for vs in ctx.view.virtual_services
              if (vs.metadata.namespace, vs.metadata.name) != (original.metadata.namespace, original.metadata.name)
              and routes_host(vs, target.host) and "*" not in vs.spec.hosts and bound_gateways(vs) & bound]
    if not others:
        return []
    names = ", ".join(_vs_ref(vs) for vs in others)
    return [ctx.finding("HL303", f"{names} also route {target.host} for {', '.join(sorted(bound))}; Istio keeps one "
                        f"of them for sidecars, maybe not {_vs_ref(original)} that gets the fault",
                        ("faults", target.index, "host"), obj=names)]


def _no_sidecar(ctx: LintContext, target: FaultTarget) -> list[Finding]:
    """HL305: the fault's callers run without an Istio sidecar."""
    live = ctx.view.live
    if live is None or (live.namespace_labels or {}).get("istio.io/dataplane-mode") == "ambient":
        return []  # ambient pods have no sidecar by design: HL601/HL602 say what applies faults there
    findings = []
    for caller in _sidecar_callers(ctx, target):
        pods = live.pods_matching(caller.labels)
        labels = ", ".join(f"{k}={v}" for k, v in caller.labels.items())
        if pods:
            if not any(p.has_sidecar for p in pods):
                findings.append(ctx.finding(
                    "HL305", f"no pod labelled {labels} runs an istio-proxy sidecar ({', '.join(p.name for p in pods)})"
                    f": its calls to {target.host.split('.')[0]} never meet the fault", _caller_path(ctx, target),
                    obj=f"pods {labels} in {live.namespace}"))
            continue
        if pods == [] and target.fault.scope.source_labels:
            findings.append(ctx.finding(
                "HL305", f"no pod in {live.namespace} has the labels {labels} of scope.sourceLabels: no proxy applies "
                "the fault", _caller_path(ctx, target), severity=Severity.WARNING, obj=f"pods in {live.namespace}",
                fix="check scope.sourceLabels against the caller's pod labels (kubectl get pods --show-labels)"))
            continue
        if pods is None and live.namespace_labels is not None and not _injected(live.namespace_labels):
            findings.append(ctx.finding(
                "HL305", f"namespace {live.namespace} has no istio-injection or istio.io/rev label, so its pods "
                f"({labels}) get no sidecar unless each asks for one", _caller_path(ctx, target),
                severity=Severity.WARNING, obj=f"Namespace {live.namespace}"))
    return findings


def _injected(labels: Mapping[str, str]) -> bool:
    return labels.get("istio-injection") == "enabled" or "istio.io/rev" in labels


def _caller_path(ctx: LintContext, target: FaultTarget) -> tuple[str | int, ...]:
    if target.fault.scope.source_labels:
        return ("faults", target.index, "scope", "sourceLabels")
    return ("faults", target.index, "host")


def _hidden_by_sidecar(ctx: LintContext, target: FaultTarget) -> list[Finding]:
    """HL306: a Sidecar resource whose egress hosts leave the fault's host out of a caller's proxy."""
    findings = []
    for caller in _sidecar_callers(ctx, target):
        sidecar = _sidecar_for(ctx, caller)
        if sidecar is None:
            continue
        namespace = sidecar["metadata"].get("namespace", ctx.view.namespace)
        hosts = [h for egress in (sidecar.get("spec") or {}).get("egress") or [] for h in egress.get("hosts") or []]
        if not hosts or any(_egress_covers(h, namespace, target.host) for h in hosts):
            continue
        name = f"Sidecar {namespace}/{sidecar['metadata']['name']}"
        findings.append(ctx.finding(
            "HL306", f"{name} limits {caller.name}'s proxy to {', '.join(hosts)}, which leaves out {target.host}: "
            "that proxy has no routes for it", _caller_path(ctx, target), obj=name))
    return findings


def _sidecar_for(ctx: LintContext, caller: Caller) -> MeshObject | None:
    """The Sidecar that configures a caller's proxy: one selecting its labels, else the namespace's default."""
    candidates = [s for s in ctx.view.sidecars if s["metadata"].get("namespace", ctx.view.namespace) == ctx.view.namespace]
    for sidecar in candidates:
        selector = ((sidecar.get("spec") or {}).get("workloadSelector") or {}).get("labels") or {}
        if selector and all(caller.labels.get(k) == v for k, v in selector.items()):
            return sidecar
    return next((s for s in candidates if not (s.get("spec") or {}).get("workloadSelector")), None)


def _egress_covers(entry: str, sidecar_namespace: str, fqdn: str) -> bool:
    """An egress ``ns/dnsName`` entry against a host: ``*`` any namespace, ``.`` the Sidecar's own, ``~`` none."""
    namespace, _, dns = entry.partition("/")
    wanted = namespace_of(fqdn)
    if namespace == "~":
        return False
    visible = wanted == sidecar_namespace if namespace == "." else namespace in ("*", wanted)
    return visible and host_matches(dns, fqdn)
