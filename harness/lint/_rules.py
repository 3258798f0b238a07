"""Every finding lint can report: a stable code, the Istio/Envoy semantics behind it and where they are written.

Codes never change meaning; a retired check keeps its code unused. Families: HL1xx a fault against the route's
own timeout and retries, HL2xx outlier detection, HL3xx whether the fault is on the load's path, HL4xx fault
percentages, HL5xx query windows, HL6xx ambient mode and the Gateway API. ``reference`` points into the
semantics reference (``../shared/reference/istio-envoy-semantics.md``, cited by section) or Istio's docs.
"""

from __future__ import annotations

from harness.lint._findings import Rule, Severity

REFERENCE_DOC = "../shared/reference/istio-envoy-semantics.md"
ERROR, WARNING, INFO = Severity.ERROR, Severity.WARNING, Severity.INFO


def ref(section: str, anchor: str) -> str:
    return f"{section}: {REFERENCE_DOC}#{anchor}"


A7_ANCHOR = "a7-where-the-fault-filter-sits-and-what-follows-from-that"
A1 = ref("§A.1", "a1-route-assembly-and-matching")
A4 = ref("§A.4", "a4-retries--retry_policy")
A5 = ref("§A.5", "a5-fault--typed_per_filter_configenvoyfiltershttpfault")
A7 = ref("§A.7", A7_ANCHOR)
A7_1, A7_2, A7_3 = (ref(f"§A.7 point {n}", A7_ANCHOR) for n in (1, 2, 3))
B2 = ref("§B.2", "b2-outlierdetection--clusteroutlier_detection")
B3 = ref("§B.3", "b3-ejection-semantics-that-break-naive-predictions-verified")
WINDOWS = "harness/experiment/_windows.py (MIN_SCRAPES); README, \"Mesh windows and the scrape interval\""

RULES: dict[str, Rule] = {rule.code: rule for rule in (
    Rule("HL101", "delay-not-cut-by-own-timeout", ERROR,
         "a latency hypothesis relies on the timeout of the route the delay is injected on",
         "Envoy's fault filter runs before the router, so an injected delay is not bounded by the timeout of the "
         "route it is injected on; only timeouts further up the call chain cut it (verified E1, E27).",
         A7_1,
         "put the delay on the next hop (scope.sourceLabels of the service behind this route) or make the service "
         "really slow (failures: latencyMs), so this route's timeout meets it; or expect the whole delay"),
    Rule("HL102", "aborts-never-retried", ERROR,
         "a hypothesis expects the route's retries to mask (or count) injected aborts",
         "Injected aborts are local replies of the fault filter, which runs before the router, so the same route's "
         "retries never see them (0 upstream attempts, upstream_rq_retry unchanged: E2, istio/istio#13705).",
         A7_2,
         "make the service fail as seen by this route (failures: errorRate, or an abort on the next hop) to test "
         "the retries; or expect the injected share of errors"),
    Rule("HL103", "retries-off", ERROR,
         "a hypothesis expects failures to be masked on a route whose retries are off",
         "`retries.attempts: 0` (or a retries block without attempts) removes the route's retry_policy, so every "
         "failed answer reaches the caller unless outlier detection takes the host out (retry.ConvertPolicy).",
         A4,
         "give the route a retry policy that covers the failure (retries: {attempts: 2, retryOn: 5xx}) or outlier "
         "detection that can eject the failing host; or expect the failures to show"),
    Rule("HL104", "retry-on-lacks-status", ERROR,
         "the route retries, but not the status the failures answer with",
         "Envoy retries only the conditions in retry_on, and Istio's default policy (since 1.24) has no retriable "
         "status codes, so an application's 503 or 500 is not retried (verified E7).",
         A4,
         "add the status, 5xx or gateway-error to retries.retryOn"),
    Rule("HL105", "per-try-timeout-not-below-timeout", WARNING,
         "perTryTimeout is not shorter than the route timeout",
         "The route timeout spans every attempt, so a per-try timeout at or above it never ends a try before the "
         "whole request times out, and no retry follows a slow try (E12).",
         A4,
         "set perTryTimeout below timeout; timeout / (attempts + 1) lets every attempt finish"),
    Rule("HL106", "retries-exceed-timeout", WARNING,
         "attempts x perTryTimeout does not fit in the route timeout",
         "The route timeout caps the whole retry sequence, so attempts beyond it are cut with a 504 UT "
         "(verified E12: timeout 0.5 s, perTry 0.3 s, 2 of 3 attempts made).",
         A4,
         "raise timeout to (attempts + 1) x perTryTimeout, or lower attempts or perTryTimeout"),
    Rule("HL201", "outlier-detection-cannot-eject", ERROR,
         "outlier detection can never eject a host of this cluster",
         "Envoy ejects a host only while 100 x (ejected + 1) / hosts <= maxEjectionPercent (strict since "
         "envoy#27909), and Istio's default is 10 %, so a cluster with fewer than 10 endpoints never ejects (E19).",
         B3,
         "set outlierDetection.maxEjectionPercent to at least 100 / endpoints"),
    Rule("HL202", "consecutive-errors-unreachable", WARNING,
         "the fault phase's load cannot make a host answer consecutive5xxErrors errors in a row",
         "A host is ejected after consecutive5xxErrors consecutive 5xx answers to one client proxy, counted per "
         "proxy, per cluster and per host.",
         B3,
         "lower consecutive5xxErrors, raise load.rate, or lengthen phases.fault"),
    Rule("HL203", "ejections-from-injected-faults", ERROR,
         "a hypothesis expects ejections that only injected faults could cause",
         "Injected aborts and delays never reach a host, so they never count toward the same proxy's outlier "
         "detection (verified E13, istio/istio#12349).",
         A7_3,
         "make a replica really fail (failures: errorRate) to test outlier detection"),
    Rule("HL204", "ejection-outlasts-recovery", WARNING,
         "a host ejected in the fault phase stays out through the recovery phase",
         "An ejected host returns only after baseEjectionTime x its ejection count, at the next interval tick, "
         "whatever happens to the failure meanwhile.",
         B2,
         "shorten baseEjectionTime/interval or lengthen phases.recovery (or judge recovery with after:)"),
    Rule("HL301", "virtual-service-not-for-mesh", ERROR,
         "the fault's VirtualService is bound to gateways only, but the fault's caller is a sidecar",
         "A VirtualService applies only to the proxies in its gateways list; without `mesh` there, sidecars never "
         "get its routes, so a fault in it never meets calls between workloads.",
         A1,
         "add mesh to spec.gateways, or fault the host's mesh VirtualService"),
    Rule("HL302", "gateway-does-not-serve-host", ERROR,
         "a gateway-bound VirtualService lists hosts its Gateway does not serve",
         "A gateway gets a virtual host only for VirtualService hosts that its Gateway's servers list; other hosts "
         "get no route there (404 NR).",
         A1,
         "list the host in the Gateway's servers[].hosts, or bind the VirtualService to the Gateway that serves it"),
    Rule("HL303", "several-virtual-services", WARNING,
         "several VirtualServices route the fault's host",
         "Istio merges VirtualServices for one host only on gateways; for sidecars it keeps one of them "
         "(IST0109), which may not be the one the fault goes into.",
         "https://istio.io/latest/docs/reference/config/analysis/ist0109/",
         "keep one VirtualService per host, or name the one to fault with faults[].virtualService"),
    Rule("HL304", "no-virtual-service", ERROR,
         "no VirtualService routes the fault's host",
         "The fault is merged into the host's VirtualService; without one the run is refused, or with "
         "createVirtualService one is created with Istio's defaults (no timeout, default retries: §A.3, §A.4).",
         A1,
         "check faults[].host for a typo, name one with faults[].virtualService, or set createVirtualService: true"),
    Rule("HL305", "client-without-sidecar", ERROR,
         "the fault's caller has no Istio sidecar",
         "A VirtualService fault is applied by the calling proxy, so a client without a sidecar calls the service "
         "directly and never meets the fault.",
         A7,
         "label the namespace istio-injection=enabled (or drop sidecar.istio.io/inject: \"false\") and restart "
         "the pods"),
    Rule("HL306", "sidecar-egress-hides-host", WARNING,
         "a Sidecar resource keeps the fault's host out of the caller's proxy",
         "A Sidecar's egress hosts limit what its workloads' proxies are configured for; a host outside them gets "
         "no routes there, so its VirtualService and the fault do not apply.",
         "https://istio.io/latest/docs/reference/config/networking/sidecar/",
         "add the host's namespace (ns/*) to the Sidecar's egress hosts"),
    Rule("HL401", "fault-without-percentage", ERROR,
         "a policy fault has no percentage and never fires",
         "Istio writes no percentage for an abort or delay without one, and Envoy's default is 0, so the fault "
         "never fires (verified E3).",
         A5,
         "set fault.abort.percentage.value / fault.delay.percentage.value"),
    Rule("HL402", "percentage-truncated", WARNING,
         "a fault percentage is truncated by Istio",
         "Istio writes uint32(value x 10000) parts per million, truncating the double, so some values lose 1 ppm "
         "(0.0003 % becomes 2 ppm) and values below 0.0001 % become 0.",
         A5,
         "use a percentage with at most 4 decimals that survives truncation (e.g. 0.0005)"),
    Rule("HL501", "window-too-short", ERROR,
         "a mesh hypothesis's window holds too few scrapes to judge",
         "Prometheus knows a counter only at scrape times, and a mesh verdict needs a window of at least 4 scrape "
         "intervals; a shorter one is INCONCLUSIVE.",
         WINDOWS,
         "lengthen the phase or the within:/after: window, or judge it from source: client"),
    Rule("HL502", "window-short-at-default-interval", INFO,
         "a mesh hypothesis's window is short at Prometheus's default 15 s scrape interval",
         "Prometheus scrapes every 15 s unless configured otherwise, and a mesh verdict needs a window of at least "
         "4 scrape intervals.",
         WINDOWS,
         "set target.scrapeInterval to the real interval (lint then checks it), or lengthen the window"),
    Rule("HL601", "ambient-without-waypoint", ERROR,
         "the fault's host is in ambient mode without a waypoint",
         "In ambient mode ztunnel handles L4 only; VirtualService routes and faults are applied by a waypoint "
         "proxy, so without one the fault does nothing.",
         "https://istio.io/latest/docs/ambient/usage/waypoint/",
         "deploy a waypoint and enrol the namespace or service (istio.io/use-waypoint), or use sidecar mode"),
    Rule("HL602", "source-labels-ignored-in-ambient", WARNING,
         "scope.sourceLabels is ignored by waypoints",
         "Waypoints drop route matches that use sourceLabels (istio/istio#51565, #54775), so a fault scoped by "
         "the caller's labels never applies in ambient mode.",
         "https://github.com/istio/istio/issues/51565",
         "scope the fault by headers (scope.headers) instead of sourceLabels"),
    Rule("HL603", "httproute-for-host", WARNING,
         "a Gateway API HTTPRoute also routes the fault's host",
         "HTTPRoutes have no fault injection, and Istio does not support an HTTPRoute and a VirtualService for the "
         "same workload (undefined behaviour), so the fault may never be applied.",
         "https://istio.io/latest/docs/ambient/migrate/migrate-policies/",
         "route the host with one API: remove the HTTPRoute for the experiment, or fault a host it does not route"),
)}
