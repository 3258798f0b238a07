"""Did the fault reach requests? Traffic evidence, and the likely causes when there is none.

istiod reporting a change in every proxy says the config arrived, not that any request meets it: a
VirtualService bound to a gateway but not to ``mesh``, a client without a sidecar, or another
VirtualService that wins for the host all leave the proxies "up to date" and the fault idle
(istio-envoy-semantics.md, "where a fault applies"). Evidence is what the proxies did: requests
flagged FI (injected abort) or DI (injected delay) in Istio's metrics, or FI aborts seen by the
run's own tagged users.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

from harness.errors import HarnessError
from harness.experiment import Fault
from harness.istio import GATEWAY_MESH, resolve_host
from harness.mesh import MeshBackend
from harness.metrics import MeshSelector, Prometheus, Window, with_flag


@dataclass(frozen=True)
class Evidence:
    seen: bool
    detail: str


def fault_flags(faults: list[Fault]) -> str:
    """The response flags the faults leave: FI for aborts, DI for delays (Envoy's access-log flags)."""
    flags = sorted({f for fault in faults for f, on in (("FI", fault.abort), ("DI", fault.delay)) if on})
    return "(" + "|".join(flags) + ")"


def traffic_evidence(faults: list[Fault], namespace: str, *, prometheus: Prometheus | None, samples: Any,
                     since: float, now: float, interval_s: float) -> Evidence:
    """Requests the faults touched since ``since``: from the client record first, then Prometheus."""
    aborted = samples[(samples["t"] >= since) & (samples["outcome"] == "FI")] if len(samples) else samples
    if len(aborted):
        return Evidence(True, f"{len(aborted)} requests of the run answered with an injected abort (FI)")
    if prometheus is None:
        return Evidence(False, "no client-side FI and no Prometheus to look for FI/DI flags")
    flags = fault_flags(faults)
    total = 0.0
    for host in sorted({resolve_host(f.host, namespace) for f in faults}):
        query = with_flag(MeshSelector(host), flags)
        with contextlib.suppress(HarnessError):  # a query error is "no evidence yet", retried next tick
            # outer edges: from the last scrape before the fault; a restarted sidecar's reset is growth
            total += prometheus.growth(query, Window(since, now), edges="outer", interval_s=interval_s).total
    if total > 0:
        return Evidence(True, f"{total:.0f} requests flagged {flags} in istio_requests_total")
    return Evidence(False, f"no request flagged {flags} for {', '.join(sorted({f.host for f in faults}))} "
                           "in istio_requests_total, and no FI seen by the run's users")


def likely_causes(backend: MeshBackend, faults: list[Fault], namespace: str) -> list[str]:
    """What usually keeps a fault from requests, checked against the live objects."""
    from harness.mesh._backend import list_widely

    causes = []
    virtual_services, cluster_wide = list_widely(backend, "VirtualService", namespace)
    if not cluster_wide:
        causes.append(f"(VirtualServices outside {namespace} were not checked: the credentials may list them "
                      f"in {namespace} only)")
    for fault in faults:
        fqdn = resolve_host(fault.host, namespace)
        routing = [o for o in virtual_services
                   if fqdn in {resolve_host(h, o["metadata"]["namespace"]) for h in o["spec"].get("hosts", [])}]
        for obj in routing:
            gateways = obj["spec"].get("gateways") or []
            name = f"{obj['metadata']['namespace']}/{obj['metadata']['name']}"
            if gateways and GATEWAY_MESH not in gateways:
                causes.append(f"VirtualService {name} is bound to gateways {gateways} but not to 'mesh': "
                              "sidecar-to-sidecar traffic to it never sees the fault")
        if len(routing) > 1:
            causes.append(f"{len(routing)} VirtualServices route {fqdn} "
                          f"({', '.join(o['metadata']['namespace'] + '/' + o['metadata']['name'] for o in routing)}): "
                          "istiod merges or picks one, and it may not be the faulted one")
        if fault.scope.source_labels:
            causes.append(f"the fault on {fault.host} applies only to clients labelled {fault.scope.source_labels}; "
                          "check that the load reaches it through such a client (and that it has a sidecar)")
    causes.append(f"the clients of {', '.join(sorted({f.host for f in faults}))} may have no sidecar "
                  f"(namespace {namespace} without istio-injection, or sidecar.istio.io/inject: \"false\")")
    if any(f.scope.traffic == "run" for f in faults):
        causes.append("the fault is scoped to the run's header (x-chaos-run): the caller must propagate it "
                      "to the faulted hop, and taggedShare must be above 0")
    return causes
