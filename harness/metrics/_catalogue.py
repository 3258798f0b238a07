"""Named measures as PromQL over Istio's standard metrics and Envoy's stats (as Istio names them)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from harness.metrics._prometheus import DURATION_BUCKETS, REQUESTS, selector


@dataclass(frozen=True)
class MeshSelector:
    """Which requests: by destination service, namespace, reporter, client workload, version."""

    service: str
    namespace: str | None = None
    reporter: str = "source"
    source_workload: str | None = None
    destination_version: str | None = None

    def labels(self) -> dict[str, str]:
        labels = {"reporter": self.reporter}
        if "." in self.service:
            labels["destination_service"] = self.service
        else:
            labels["destination_service_name"] = self.service
        if self.namespace:
            labels["destination_service_namespace"] = self.namespace
        if self.source_workload:
            labels["source_workload"] = self.source_workload
        if self.destination_version:
            labels["destination_version"] = self.destination_version
        return labels


def requests(sel: MeshSelector) -> str:
    return REQUESTS + selector(sel.labels())


def server_errors(sel: MeshSelector) -> str:
    return REQUESTS + selector(sel.labels(), {"response_code": "5.."})


def with_flag(sel: MeshSelector, flag: str) -> str:
    """Requests whose response_flags contain ``flag`` (flags are comma-joined, e.g. "URX,UT")."""
    return REQUESTS + selector(sel.labels(), {"response_flags": f"(.*,)?{flag}(,.*)?"})


def duration_buckets(sel: MeshSelector) -> str:
    return DURATION_BUCKETS + selector(sel.labels())


def envoy_cluster_stat(stat: str, fqdn: str, *, subset: str | None = None, pod: str | None = None) -> str:
    """An Envoy cluster stat with Istio's tags and names: ``cluster_name="outbound|PORT|SUBSET|FQDN"``.

    Any port matches; ``pod`` (a client workload such as ``frontend-v1``) matches its pods by prefix.
    """
    cluster = r"outbound\|[0-9]+\|" + re.escape(subset or "") + r"\|" + re.escape(fqdn)
    regex = {"cluster_name": cluster}
    if pod:
        regex["pod"] = re.escape(pod) + ".*"
    return f"envoy_cluster_{stat}" + selector({}, regex)
