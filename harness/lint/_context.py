"""What every check gets: the experiment with its source, the mesh view, and helpers to locate and describe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from harness._yamlsource import format_field
from harness.errors import Location
from harness.experiment import Experiment, LoadedExperiment
from harness.istio import RouteChoice
from harness.istio._merge import chaos_route_prefix
from harness.lint._findings import Finding, Severity
from harness.lint._rules import RULES
from harness.lint._view import LINT_RUN_ID, MeshView

CHAOS_ROUTE = chaos_route_prefix(LINT_RUN_ID)


@dataclass(frozen=True)
class LintContext:
    loaded: LoadedExperiment
    view: MeshView
    scrape_interval_s: float | None = None   # measured on the running sandbox; target.scrapeInterval wins

    @property
    def exp(self) -> Experiment:
        return self.loaded.experiment

    @property
    def has_live(self) -> bool:
        return self.view.live is not None

    def finding(self, code: str, message: str, path: Sequence[str | int], *, severity: Severity | None = None,
                obj: str | None = None, object_location: Location | None = None, fix: str | None = None) -> Finding:
        """A finding at ``path`` of the experiment (``hypotheses, 0, below``), with the rule's defaults."""
        rule = RULES[code]
        return Finding(rule, severity or rule.severity, message, self.loaded.source.locate(path), format_field(path),
                       obj, object_location, fix)

    def service_path(self, service: str) -> tuple[str | int, ...]:
        """The experiment field that brings ``service`` into play: a fault, a failure, a hypothesis, or the target."""
        exp = self.exp
        for index, fault in enumerate(exp.faults):
            if self.view.service_of(self.view.fqdn(fault.host)) == service:
                return ("faults", index, "host")
        for index, failure in enumerate(exp.failures):
            if failure.service == service:
                return ("failures", index, "service")
        for index, h in enumerate(exp.hypotheses):
            if h.service and self.view.service_of(self.view.fqdn(h.service)) == service:
                return ("hypotheses", index, "service")
        return ("target", "namespace")

    def policy_path(self, kind: str, namespace: str, name: str) -> tuple[str | int, ...] | None:
        """The ``policies`` entry that brings an object, when the experiment brings it."""
        source = self.view.policies.get((kind, namespace, name))
        if source is None or source.path is None:
            return None
        for index, entry in enumerate(self.exp.policies):
            if self.loaded.path is not None and (self.loaded.path.parent / entry).resolve() == source.path.resolve():
                return ("policies", index)
        return ("policies",)


def route_index(route: RouteChoice) -> int | None:
    """The route's index in the VirtualService as it is before the run (the faults' chaos copies left out)."""
    if route.virtual_service is None or route.index is None:
        return None
    http = route.virtual_service.spec.http
    index = route.index + 1 if is_chaos(route) else route.index  # a chaos copy sits right before its original
    return sum(1 for r in http[:index] if not str(r.name or "").startswith(CHAOS_ROUTE))


def is_chaos(route: RouteChoice) -> bool:
    return route.route is not None and str(route.route.name or "").startswith(CHAOS_ROUTE)


def describe_route(route: RouteChoice) -> str:
    """``VirtualService ns/name http[i] (name)`` of the route as users wrote it (a chaos copy names its original)."""
    if route.virtual_service is None:
        return route.describe()
    vs = route.virtual_service
    index = route_index(route)
    original = vs.spec.http[route.index + 1] if is_chaos(route) and route.index is not None else route.route
    name = f" ({original.name})" if original is not None and original.name else ""
    return f"VirtualService {vs.metadata.namespace}/{vs.metadata.name} http[{index}]{name}"


def route_location(ctx: LintContext, route: RouteChoice, *field: str) -> Location | None:
    """Where a route (or one of its fields) is written, when a policy file of the experiment brings it."""
    if route.virtual_service is None:
        return None
    meta = route.virtual_service.metadata
    return ctx.view.policy_location("VirtualService", meta.namespace, meta.name,
                                    ("spec", "http", route_index(route) or 0, *field))
