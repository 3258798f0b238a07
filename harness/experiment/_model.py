"""The experiment model: what an SRE writes in YAML, validated into frozen objects."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Discriminator, Field, Tag, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from harness.experiment._base import Model
from harness.experiment._guardrails import ALERT_TAG, HYPOTHESIS_TAG, AlertGuardrail, guardrail_kind
from harness.experiment._notify import Notify
from harness.istio import parse_duration_s

API_VERSION = "harness/v1"
RUN_HEADER = "x-chaos-run"


def _duration(value: str) -> str:
    parse_duration_s(value)
    return value


Duration = Annotated[str, AfterValidator(_duration)]
Name = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", max_length=63)]


class Metadata(Model):
    name: Name
    description: str = ""
    owner: str = "unknown"
    labels: dict[str, str] = Field(default_factory=dict)


class Target(Model):
    """Where the experiment runs: the sandbox or a cluster, and how load reaches the gateway."""

    namespace: str = "default"
    backend: Literal["sandbox", "kubernetes"] = "sandbox"
    context: str | None = None
    gateway_url: str | None = None
    host: str | None = None
    prometheus_url: str | None = None
    alertmanager_url: str | None = Field(
        default=None, description="Alertmanager for alert guardrails (else --alertmanager-url, $ALERTMANAGER_URL, "
        "or the sandbox's own: harness sandbox up --alertmanager)")
    scrape_interval: Duration | None = Field(
        default=None, description="Prometheus's scrape interval for the mesh's metrics (read from Prometheus's "
        "targets when not set); mesh hypotheses need windows of at least 4 intervals")


class HeaderMatch(Model):
    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None


class Delay(Model):
    fixed_delay: Duration
    percentage: float = Field(default=100.0, ge=0.0001, le=100)


class Abort(Model):
    http_status: int | None = Field(default=None, ge=200, le=599)
    grpc_status: str | None = None
    percentage: float = Field(default=100.0, ge=0.0001, le=100)

    @model_validator(mode="after")
    def _one_status(self) -> Abort:
        if (self.http_status is None) == (self.grpc_status is None):
            raise ValueError("set exactly one of httpStatus or grpcStatus")
        return self


class Scope(Model):
    """Which traffic the fault touches. ``run`` (default): only requests with this run's header."""

    traffic: Literal["run", "all"] = "run"
    headers: dict[str, HeaderMatch] = Field(default_factory=dict)
    source_labels: dict[str, str] = Field(default_factory=dict)


class Fault(Model):
    """A delay and/or abort merged into the live VirtualService of ``host``."""

    host: str = Field(min_length=1)
    virtual_service: str | None = None
    routes: list[str] | Literal["all"] = "all"
    route_match: dict[str, Any] | None = Field(
        default=None, description="select the http routes having a match entry that contains these fields, "
        "e.g. {uri: {prefix: /api}}")
    delay: Delay | None = None
    abort: Abort | None = None
    scope: Scope = Field(default_factory=Scope)
    create_virtual_service: bool = Field(
        default=False, description="create a VirtualService for a host that has none (otherwise that is a "
        "preflight error: a misspelt host would silently become a fault nobody receives)")

    @model_validator(mode="after")
    def _something(self) -> Fault:
        if self.delay is None and self.abort is None:
            raise ValueError("a fault needs a delay, an abort, or both")
        return self


class Failure(Model):
    """A real upstream failure for the fault phase (sandbox only): the replica really answers slow or 5xx.

    Unlike an injected fault, it is retried, counted by outlier detection and fills connection pools,
    so it tests the caller's policies (see the semantics reference, A.7).
    """

    service: str = Field(min_length=1)
    version: str | None = None
    replica: int | None = Field(default=None, ge=0)
    latency_ms: float | None = Field(default=None, ge=0)
    error_rate: float | None = Field(default=None, ge=0, le=1)
    error_status: int | None = Field(default=None, ge=400, le=599)


class Phases(Model):
    baseline: Duration = "20s"
    fault: Duration = "30s"
    recovery: Duration = "20s"
    settle: Duration = "2s"

    def seconds(self, phase: str) -> float:
        return parse_duration_s(getattr(self, phase))


class RequestSpec(Model):
    """One kind of request of the generic load profile."""

    path: str = Field(pattern=r"^/")
    method: Literal["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"] = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    weight: int = Field(default=1, ge=1)
    name: str | None = None


class Step(Model):
    users: int = Field(ge=0, le=10_000)
    duration: Duration


class Shape(Model):
    """How the number of users moves over the run: constant (default), steps, or a spike."""

    kind: Literal["constant", "steps", "spike"] = "constant"
    steps: list[Step] = Field(default_factory=list)
    spike_users: int | None = Field(default=None, ge=1)
    spike_at: Duration | None = None
    spike_duration: Duration | None = None

    @model_validator(mode="after")
    def _complete(self) -> Shape:
        if self.kind == "steps" and not self.steps:
            raise ValueError("a steps shape needs steps: [{users, duration}, ...]")
        if self.kind == "spike" and not (self.spike_users and self.spike_at and self.spike_duration):
            raise ValueError("a spike shape needs spikeUsers, spikeAt and spikeDuration")
        return self


class WorkerPods(Model):
    """Locust workers as pods in a cluster; the master runs where the harness runs."""

    namespace: str
    count: int = Field(ge=1, le=500)
    image: str = "istio-chaos-harness:0.1.0"
    master_host: str = Field(description="address of this machine as the pods can reach it")
    master_port: int = Field(default=5557, ge=1, le=65535)
    context: str | None = None


class Load(Model):
    """Locust load through the gateway; a share of users carry the run header (the tagged cohort)."""

    profile: str = "shop"
    locustfile: str | None = None
    users: int = Field(default=10, ge=1, le=10_000)
    spawn_rate: float = Field(default=10, gt=0)
    rate: float | None = Field(default=None, gt=0, description="target total requests per second")
    tagged_share: float = Field(default=0.5, ge=0, le=1)
    headers: dict[str, str] = Field(default_factory=dict)
    requests: list[RequestSpec] = Field(default_factory=list, description="the generic profile's requests")
    shape: Shape = Field(default_factory=Shape)
    workers: int = Field(default=0, ge=0, le=64, description="local Locust workers (0: one process)")
    pods: WorkerPods | None = None

    @model_validator(mode="after")
    def _one_kind_of_workers(self) -> Load:
        if self.workers and self.pods:
            raise ValueError("use local workers or worker pods, not both")
        return self

    @model_validator(mode="after")
    def _generic_needs_requests(self) -> Load:
        if self.profile == "generic" and not self.requests and not self.locustfile:
            raise ValueError("the generic profile needs requests: [{path, method, headers, weight}, ...]")
        return self


Measure = Literal["error_rate", "success_rate", "latency_p50", "latency_p95", "latency_p99", "latency_shift",
                  "request_rate", "flag_rate", "ejections", "overflows", "retries", "timeouts", "per_try_timeouts",
                  "promql"]
ENVOY_COUNTERS = {"ejections": "outlier_detection_ejections_enforced_total",
                  "overflows": "upstream_rq_pending_overflow", "retries": "upstream_rq_retry",
                  "timeouts": "upstream_rq_timeout", "per_try_timeouts": "upstream_rq_per_try_timeout"}
# Envoy's %RESPONSE_FLAGS% short names, HTTP and TCP then HTTP only, in the order of Envoy's access-log docs
# (docs/root/configuration/observability/access_log/usage.rst; the same set as the 1.40 binary's enum).
ENVOY_RESPONSE_FLAGS = ("UH", "UF", "UO", "NR", "URX", "NC", "DT",
                        "DC", "LH", "UT", "LR", "UR", "UC", "DI", "FI", "RL", "UAEX", "RLSE", "IH", "SI", "DPE", "UPE",
                        "UMSDR", "RFCF", "NFCF", "OM", "DF", "DO", "DR", "UDO")
# What the load generator can tell from a response (harness/load/locust_support.py, classify): it sees bodies and
# status codes, not Envoy's flags, so DI, URX and the rest exist only in the mesh's metrics.
CLIENT_FLAGS = ("FI", "UT", "UH", "UO", "connection_error", "5xx", "4xx")


class Hypothesis(Model):
    """A bound on a measure in one phase, from the client's view or the mesh's (Prometheus)."""

    name: str = Field(min_length=1)
    measure: Measure = Field(description="latency_shift: the shift of the whole latency distribution (versus "
                             "required; Mann-Whitney U), unlike latency_pNN versus, which compares that quantile")
    source: Literal["client", "mesh"] = "client"
    phase: Literal["baseline", "fault", "recovery"] = "fault"
    cohort: Literal["tagged", "control", "all"] = "all"
    service: str | None = None
    reporter: Literal["source", "destination"] = "source"
    source_workload: str | None = None
    version: str | None = Field(default=None, description="destination version (mesh rates)")
    subset: str | None = None
    query: str | None = Field(default=None, description="raw PromQL for measure: promql; $window is replaced by "
                              "the window in seconds, e.g. sum(increase(my_metric[$window]))")
    flag: str | None = Field(default=None, description="flag_rate: an Envoy response flag (source: mesh) or a "
                             "client class: " + ", ".join(CLIENT_FLAGS))
    below: float | None = None
    above: float | None = None
    expect: Literal["predicted"] | None = Field(
        default=None, description="predicted: the hypothesis holds when the observed interval contains what the "
        "Istio/Envoy semantics predict (harness predict); FAIL when it excludes it (a surprise). Bounds, if also "
        "given, must hold too")
    versus: Literal["baseline", "control"] | None = Field(
        default=None, description="compare with the baseline phase (same cohort) or the control cohort (same "
        "phase); the bounds then apply to the difference (or ratio) between the two")
    relation: Literal["difference", "ratio"] = "difference"
    within: Duration | None = Field(default=None, description="fault phase: judge only its first T")
    after: Duration | None = Field(default=None, description="recovery phase: judge from T after the revert on")
    confidence: float = Field(default=0.95, gt=0.5, lt=1)

    @model_validator(mode="after")
    def _consistent(self) -> Hypothesis:
        for check in (_check_bounds, _check_expect, _check_source, _check_flag, _check_versus, _check_relation):
            check(self)
        return self


def _field_error(field: str, message: str, value: Any) -> ValidationError:
    """An error located at ``field`` of the hypothesis (not at the hypothesis), so file:line names that field."""
    # pydantic re-raises a ValidationError from a validator with its loc under the model's own location
    return ValidationError.from_exception_data("Hypothesis", [InitErrorDetails(
        type=PydanticCustomError("value_error", message), loc=(field,), input=value)])


def _check_bounds(h: Hypothesis) -> None:
    if h.below is None and h.above is None and h.expect is None:
        raise ValueError("a hypothesis needs 'below', 'above', or both (or 'expect: predicted')")
    if h.below is not None and h.above is not None and h.above >= h.below:
        raise _field_error("above", "'above' must be lower than 'below' (the value must lie between them)", h.above)


def _check_expect(h: Hypothesis) -> None:
    if h.expect == "predicted" and h.measure in ("promql", "latency_shift"):
        raise _field_error("expect", f"the semantics predict no value for measure {h.measure} (a raw query, a rank "
                           "test): use below/above", h.expect)


def _check_source(h: Hypothesis) -> None:
    if h.measure == "promql":
        if not h.query or h.source != "mesh":
            raise ValueError("measure promql needs source: mesh and a query (use $window for the window)")
    elif h.source == "mesh" and h.service is None:
        raise ValueError("mesh hypotheses need 'service' (the destination service)")
    if h.source == "mesh" and h.cohort != "all":
        raise _field_error("cohort", "the mesh cannot tell cohorts apart; use source: client for tagged/control",
                           h.cohort)
    if h.measure in ENVOY_COUNTERS and h.source != "mesh":
        raise _field_error("source", f"{h.measure} is an Envoy stat: use source: mesh", h.source)
    if h.measure == "latency_shift" and h.source != "client":
        raise _field_error("source", "latency_shift compares client samples: use source: client", h.source)


def _check_flag(h: Hypothesis) -> None:
    if h.measure != "flag_rate":
        if h.flag is not None:
            raise _field_error("flag", f"'flag' belongs to measure flag_rate, not {h.measure}", h.flag)
        return
    if not h.flag:
        raise ValueError("measure flag_rate needs 'flag' (e.g. UT, FI, UO)")
    if h.source == "mesh" and h.flag not in ENVOY_RESPONSE_FLAGS:
        raise _field_error("flag", f"{h.flag!r} is not an Envoy response flag; Envoy's flags: "
                           + " ".join(ENVOY_RESPONSE_FLAGS), h.flag)
    if h.source == "client" and h.flag not in CLIENT_FLAGS:
        seen_by = " (an Envoy flag: use source: mesh to count it)" if h.flag in ENVOY_RESPONSE_FLAGS else ""
        raise _field_error("flag", f"the client cannot see {h.flag!r}{seen_by}; the client classifies responses as "
                           + ", ".join(CLIENT_FLAGS), h.flag)


def _check_versus(h: Hypothesis) -> None:
    if h.measure == "latency_shift" and h.versus is None:
        raise _field_error("measure", "latency_shift is the shift between two distributions: set versus: baseline "
                           "or versus: control", h.measure)
    if h.versus is None:
        return
    if h.measure == "promql":
        raise _field_error("versus", "measure promql is one value from your query and cannot be compared with "
                           "versus; write the comparison into the query", h.versus)
    if h.measure in ENVOY_COUNTERS or h.measure == "request_rate":
        raise _field_error("versus", f"versus compares rates and latencies, not {h.measure}", h.versus)
    if h.versus == "control" and (h.source != "client" or h.cohort == "control"):
        raise _field_error("versus", "versus: control compares a client cohort (tagged or all) with the control "
                           "cohort", h.versus)
    if h.versus == "baseline" and h.phase == "baseline":
        raise _field_error("versus", "versus: baseline needs phase fault or recovery", h.versus)
    if h.measure.startswith("latency") and h.source != "client":
        raise _field_error("source", "latency comparisons need the client's samples (order statistics or a rank "
                           "test): use source: client", h.source)


def _check_relation(h: Hypothesis) -> None:
    if h.relation != "ratio":
        return
    if h.versus is None:
        raise _field_error("relation", "relation: ratio needs versus: baseline or versus: control", h.relation)
    if any(bound is not None and bound <= 0 for bound in (h.below, h.above)):
        raise _field_error("relation", "a ratio's bounds must be positive (1 means unchanged)", h.relation)


# A guardrail is a hypothesis (FAIL stops the run) or an alert (firing stops the run), told apart by `alert`.
Guardrail = Annotated[Annotated[Hypothesis, Tag(HYPOTHESIS_TAG)] | Annotated[AlertGuardrail, Tag(ALERT_TAG)],
                      Discriminator(guardrail_kind)]


class Experiment(Model):
    api_version: Literal["harness/v1"] = Field(alias="apiVersion")
    kind: Literal["Experiment"]
    metadata: Metadata
    target: Target = Field(default_factory=Target)
    faults: list[Fault] = Field(default_factory=list)
    failures: list[Failure] = Field(default_factory=list)
    policies: list[str] = Field(default_factory=list, description="Istio YAML files (relative to this file) "
                                "applied for the experiment and restored after it")
    phases: Phases = Field(default_factory=Phases)
    load: Load = Field(default_factory=Load)
    hypotheses: list[Hypothesis] = Field(default_factory=list)
    guardrails: list[Guardrail] = Field(default_factory=list, description="checked every 5 s in the fault phase: "
                                        "a FAIL, or a firing alert ({name, alert: {label: matcher}}), reverts early "
                                        "and marks the run aborted")
    notify: Notify = Field(default_factory=Notify, description="webhooks, Slack and Grafana annotations told "
                           "about this run; a failing receiver never fails or delays the run")

    @model_validator(mode="after")
    def _something_to_break(self) -> Experiment:
        if not self.faults and not self.failures:
            raise ValueError("an experiment needs faults (injected through VirtualServices) or failures (sandbox)")
        return self
