"""Typed, frozen views of the Istio networking resources the harness reads and writes.

Field names follow ``networking.istio.io`` (camelCase in YAML). Fields Istio knows but the harness
does not model are listed per class in ``istio_known``: they load, and whoever translates them warns.
Anything else is a typo and is rejected with its location (see ``_load.py``).
"""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic.alias_generators import to_camel

from harness.istio._duration import parse_duration_s

API_GROUP = "networking.istio.io"
API_VERSIONS = ("v1", "v1beta1", "v1alpha3")


def _check_duration(value: str) -> str:
    parse_duration_s(value)
    return value


Duration = Annotated[str, AfterValidator(_check_duration)]


class IstioModel(BaseModel):
    """Base for Istio API objects: camelCase aliases, frozen, extras kept for the unknown-field check."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="allow")
    istio_known: ClassVar[frozenset[str]] = frozenset()


class StringMatch(IstioModel):
    exact: str | None = None
    prefix: str | None = None
    regex: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> StringMatch:
        if sum(v is not None for v in (self.exact, self.prefix, self.regex)) > 1:
            raise ValueError("set only one of exact, prefix, regex")
        if self.regex is not None:  # istiod's webhook compiles it (validateStringMatchRegexp); RE2 is stricter still,
            try:                    # so Envoy may NACK what Python's re accepts (lookarounds, backreferences)
                re.compile(self.regex)
            except re.error as exc:
                raise ValueError(f"{self.regex!r} is not a valid regex: {exc}") from None
        return self


class PortSelector(IstioModel):
    number: int = Field(ge=1, le=65535)


class HTTPMatchRequest(IstioModel):
    istio_known: ClassVar[frozenset[str]] = frozenset({"scheme", "sourceNamespace", "statPrefix"})
    name: str | None = None
    uri: StringMatch | None = None
    method: StringMatch | None = None
    authority: StringMatch | None = None
    headers: dict[str, StringMatch] = Field(default_factory=dict)
    without_headers: dict[str, StringMatch] = Field(default_factory=dict)
    query_params: dict[str, StringMatch] = Field(default_factory=dict)
    port: int | None = Field(default=None, ge=0, le=65535)
    source_labels: dict[str, str] = Field(default_factory=dict)
    gateways: list[str] = Field(default_factory=list)
    ignore_uri_case: bool = False


class Destination(IstioModel):
    host: str = Field(min_length=1)
    subset: str | None = None
    port: PortSelector | None = None


class HeaderOperations(IstioModel):
    set: dict[str, str] = Field(default_factory=dict)
    add: dict[str, str] = Field(default_factory=dict)
    remove: list[str] = Field(default_factory=list)


class Headers(IstioModel):
    request: HeaderOperations | None = None
    response: HeaderOperations | None = None


class HTTPRouteDestination(IstioModel):
    destination: Destination
    weight: int = Field(default=0, ge=0)
    headers: Headers | None = None


class HTTPRetry(IstioModel):
    istio_known: ClassVar[frozenset[str]] = frozenset({"retryRemoteLocalities"})
    attempts: int | None = None
    per_try_timeout: Duration | None = None
    retry_on: str | None = None
    retry_ignore_previous_hosts: bool | None = None
    backoff: Duration | None = None


class Percent(IstioModel):
    value: float = Field(ge=0, le=100)


class Delay(IstioModel):
    istio_known: ClassVar[frozenset[str]] = frozenset({"exponentialDelay"})
    fixed_delay: Duration | None = None
    percentage: Percent | None = None
    percent: int | None = Field(default=None, ge=0, le=100)


class Abort(IstioModel):
    istio_known: ClassVar[frozenset[str]] = frozenset({"http2Error"})
    http_status: int | None = Field(default=None, ge=200, le=600)
    grpc_status: str | None = None
    percentage: Percent | None = None


class HTTPFaultInjection(IstioModel):
    delay: Delay | None = None
    abort: Abort | None = None

    @model_validator(mode="after")
    def _something(self) -> HTTPFaultInjection:
        if self.delay is None and self.abort is None:
            raise ValueError("a fault needs a delay or an abort")
        return self


class HTTPRewrite(IstioModel):
    istio_known: ClassVar[frozenset[str]] = frozenset({"uriRegexRewrite"})
    uri: str | None = None
    authority: str | None = None


class HTTPRoute(IstioModel):
    istio_known: ClassVar[frozenset[str]] = frozenset({
        "redirect", "directResponse", "delegate", "mirror", "mirrorPercent", "mirrorPercentage", "mirrors",
        "corsPolicy",
    })
    name: str | None = None
    match: list[HTTPMatchRequest] = Field(default_factory=list)
    route: list[HTTPRouteDestination] = Field(default_factory=list)
    rewrite: HTTPRewrite | None = None
    timeout: Duration | None = None
    retries: HTTPRetry | None = None
    fault: HTTPFaultInjection | None = None
    headers: Headers | None = None


class VirtualServiceSpec(IstioModel):
    istio_known: ClassVar[frozenset[str]] = frozenset({"tls", "tcp", "exportTo"})
    hosts: list[str] = Field(min_length=1)
    gateways: list[str] = Field(default_factory=list)
    http: list[HTTPRoute] = Field(default_factory=list)


class TCPSettings(IstioModel):
    istio_known: ClassVar[frozenset[str]] = frozenset({"tcpKeepalive", "maxConnectionDuration", "idleTimeout"})
    max_connections: int | None = None
    connect_timeout: Duration | None = None


class HTTPSettings(IstioModel):
    istio_known: ClassVar[frozenset[str]] = frozenset({
        "h2UpgradePolicy", "useClientProtocol", "maxConcurrentStreams",
    })
    http1_max_pending_requests: int | None = Field(default=None, alias="http1MaxPendingRequests")
    http2_max_requests: int | None = Field(default=None, alias="http2MaxRequests")
    max_requests_per_connection: int | None = None
    max_retries: int | None = None
    idle_timeout: Duration | None = None


class ConnectionPool(IstioModel):
    tcp: TCPSettings | None = None
    http: HTTPSettings | None = None


class OutlierDetection(IstioModel):
    istio_known: ClassVar[frozenset[str]] = frozenset({"consecutiveErrors"})
    consecutive_5xx_errors: int | None = Field(default=None, alias="consecutive5xxErrors", ge=0)
    consecutive_gateway_errors: int | None = Field(default=None, ge=0)
    split_external_local_origin_errors: bool = False
    consecutive_local_origin_failures: int | None = Field(default=None, ge=0)
    interval: Duration | None = None
    base_ejection_time: Duration | None = None
    max_ejection_percent: int | None = Field(default=None, ge=0, le=100)
    min_health_percent: int | None = Field(default=None, ge=0, le=100)


class LoadBalancer(IstioModel):
    istio_known: ClassVar[frozenset[str]] = frozenset({
        "consistentHash", "localityLbSetting", "warmupDurationSecs", "warmup",
    })
    simple: Literal["UNSPECIFIED", "LEAST_CONN", "RANDOM", "PASSTHROUGH", "ROUND_ROBIN", "LEAST_REQUEST"] | None = None


class PortTrafficPolicy(IstioModel):
    istio_known: ClassVar[frozenset[str]] = frozenset({"tls"})
    port: PortSelector | None = None
    load_balancer: LoadBalancer | None = None
    connection_pool: ConnectionPool | None = None
    outlier_detection: OutlierDetection | None = None


class TrafficPolicy(IstioModel):
    istio_known: ClassVar[frozenset[str]] = frozenset({"tls", "tunnel", "proxyProtocol", "retryBudget"})
    load_balancer: LoadBalancer | None = None
    connection_pool: ConnectionPool | None = None
    outlier_detection: OutlierDetection | None = None
    port_level_settings: list[PortTrafficPolicy] = Field(default_factory=list)


class Subset(IstioModel):
    name: str = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    traffic_policy: TrafficPolicy | None = None


class DestinationRuleSpec(IstioModel):
    istio_known: ClassVar[frozenset[str]] = frozenset({"exportTo", "workloadSelector"})
    host: str = Field(min_length=1)
    traffic_policy: TrafficPolicy | None = None
    subsets: list[Subset] = Field(default_factory=list)


class ServerPort(IstioModel):
    istio_known: ClassVar[frozenset[str]] = frozenset({"targetPort"})
    number: int = Field(ge=1, le=65535)
    name: str | None = None
    protocol: str = "HTTP"


class Server(IstioModel):
    istio_known: ClassVar[frozenset[str]] = frozenset({"tls", "bind", "defaultEndpoint"})
    port: ServerPort
    hosts: list[str] = Field(min_length=1)
    name: str | None = None


class GatewaySpec(IstioModel):
    selector: dict[str, str] = Field(default_factory=dict)
    servers: list[Server] = Field(min_length=1)


class ObjectMeta(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow", populate_by_name=True)
    name: str = Field(min_length=1)
    namespace: str = "default"
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    resource_version: str | None = Field(default=None, alias="resourceVersion")


class IstioObject(BaseModel):
    """An Istio resource: kind, metadata and a typed spec."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)
    api_version: str = Field(alias="apiVersion")
    kind: str
    metadata: ObjectMeta
    status: dict[str, Any] | None = None

    @field_validator("api_version")
    @classmethod
    def _api_version(cls, value: str) -> str:
        group, _, version = value.partition("/")
        if group != API_GROUP or version not in API_VERSIONS:
            allowed = ", ".join(f"{API_GROUP}/{v}" for v in API_VERSIONS)
            raise ValueError(f"{value!r} is not one of {allowed}")
        return value

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.kind, self.metadata.namespace, self.metadata.name)

    @property
    def ref(self) -> str:
        return f"{self.kind} {self.metadata.namespace}/{self.metadata.name}"


class VirtualService(IstioObject):
    kind: Literal["VirtualService"] = "VirtualService"
    spec: VirtualServiceSpec


class DestinationRule(IstioObject):
    kind: Literal["DestinationRule"] = "DestinationRule"
    spec: DestinationRuleSpec


class Gateway(IstioObject):
    kind: Literal["Gateway"] = "Gateway"
    spec: GatewaySpec


RESOURCE_KINDS: dict[str, type[IstioObject]] = {
    "VirtualService": VirtualService,
    "DestinationRule": DestinationRule,
    "Gateway": Gateway,
}
