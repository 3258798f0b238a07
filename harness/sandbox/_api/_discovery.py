"""Discovery, version, OpenAPI and Table answers: what kubectl reads before and around a request.

Shapes from k8s.io/apimachinery/pkg/apis/meta/v1/types.go (APIVersions, APIGroupList, APIResourceList,
Table) and https://kubernetes.io/docs/reference/using-api/api-concepts/#receiving-resources-as-tables.
kubectl asks for aggregated discovery first and falls back to these legacy documents when the answer
is not an APIGroupDiscoveryList.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from harness.sandbox._api._resources import Resource, ResourceTable

VERSION_INFO = {"major": "1", "minor": "31", "gitVersion": "v1.31.0-sandbox", "gitCommit": "", "gitTreeState": "clean",
                "buildDate": "2026-01-01T00:00:00Z", "goVersion": "go1.22", "compiler": "gc", "platform": "linux/amd64"}


def api_versions(server_address: str) -> dict[str, Any]:
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}]}


def _group(name: str, versions: tuple[str, ...]) -> dict[str, Any]:
    entries = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": entries, "preferredVersion": entries[0]}


def api_group_list(table: ResourceTable) -> dict[str, Any]:
    return {"kind": "APIGroupList", "apiVersion": "v1",
            "groups": [_group(name, versions) for name, versions in table.groups().items()]}


def api_group(table: ResourceTable, name: str) -> dict[str, Any] | None:
    versions = table.groups().get(name)
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(name, versions)} if versions else None


def api_resource_list(table: ResourceTable, group: str, version: str) -> dict[str, Any] | None:
    resources = table.in_group_version(group, version)
    if not resources:
        return None
    listed: list[dict[str, Any]] = []
    for r in resources:
        entry: dict[str, Any] = {"name": r.plural, "singularName": r.singular, "namespaced": r.namespaced,
                                 "kind": r.kind, "verbs": list(r.verbs)}
        if r.short_names:
            entry["shortNames"] = list(r.short_names)
        if r.categories:
            entry["categories"] = list(r.categories)
        listed.append(entry)
        if r.status:
            listed.append({"name": f"{r.plural}/status", "singularName": "", "namespaced": r.namespaced,
                           "kind": r.kind, "verbs": ["get", "patch", "update"]})
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": f"{group}/{version}" if group else version,
            "resources": listed}


def openapi_v2() -> dict[str, Any]:
    """An OpenAPI document with no schemas: kubectl then treats every kind as schemaless (client-side
    apply of a built-in kind still uses its compiled-in strategic merge metadata)."""
    return {"swagger": "2.0", "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
            "paths": {}, "definitions": {}}


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def openapi_v3_root(table: ResourceTable) -> dict[str, Any]:
    """``/openapi/v3``: one document per group-version (k8s.io/kube-openapi/pkg/handler3)."""
    versions = {(r.group, v) for r in table.resources for v in r.versions}
    return {"paths": {_gv_path(g, v): {"serverRelativeURL": f"/openapi/v3/{_gv_path(g, v)}"} for g, v in sorted(versions)}}


def openapi_v3_group_version(table: ResourceTable, group: str, version: str) -> dict[str, Any] | None:
    """The PATCH operation of each resource, with ``fieldValidation`` and its group-version-kind: what
    kubectl's query-param verifier reads to send ``fieldValidation=Strict`` and leave validation to the
    server (staging/src/k8s.io/cli-runtime/pkg/resource/query_param_verifier_v3.go). No schemas are
    published, so ``kubectl explain`` has nothing to show."""
    resources = table.in_group_version(group, version)
    if not resources:
        return None
    parameter = {"name": "fieldValidation", "in": "query", "schema": {"type": "string", "uniqueItems": True}}
    paths: dict[str, Any] = {}
    for r in resources:
        if "patch" not in r.verbs:
            continue
        scope = "/namespaces/{namespace}" if r.namespaced else ""
        gvk = {"group": group, "version": version, "kind": r.kind}
        paths[f"/{_gv_path(group, version)}{scope}/{r.plural}/{{name}}"] = {
            "patch": {"operationId": f"patch{r.kind}", "parameters": [parameter],
                      "x-kubernetes-group-version-kind": gvk, "x-kubernetes-action": "patch",
                      "responses": {"200": {"description": "OK"}}}}
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": VERSION_INFO["gitVersion"]},
            "paths": paths, "components": {"schemas": {}}}


def human_age(timestamp: str | None) -> str:
    """k8s.io/apimachinery/pkg/util/duration.HumanDuration, to the precision kubectl shows."""
    if not timestamp:
        return "<unknown>"
    try:
        then = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return "<invalid>"
    seconds = int((datetime.now(UTC) - then).total_seconds())
    if seconds < 0:
        return "0s"
    if seconds < 60 * 2:
        return f"{seconds}s"
    minutes = seconds // 60
    if minutes < 10:
        rest = seconds % 60
        return f"{minutes}m{rest}s" if rest else f"{minutes}m"
    if minutes < 60 * 3:
        return f"{minutes}m"
    hours = minutes // 60
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h{rest}m" if rest else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    return f"{hours // 24}d"


def _lookup(obj: dict[str, Any], path: str) -> Any:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, dict):
            return None
        node = node.get(part)
    return node


def _cell(value: Any, column_type: str) -> Any:
    if value is None:
        return None if column_type == "integer" else "<none>"
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))  # how CRD printer columns render arrays
    return value


def as_table(resource: Resource, objects: list[dict[str, Any]], resource_version: str) -> dict[str, Any]:
    """A meta.k8s.io/v1 Table: Name plus the resource's printer columns, each row with its metadata."""
    columns = [{"name": "Name", "type": "string", "format": "name", "description": "Name", "priority": 0}]
    columns += [{"name": c.name, "type": "string" if c.type == "date" else c.type, "format": "",
                 "description": c.name, "priority": 0} for c in resource.columns]
    rows = []
    for obj in objects:
        cells: list[Any] = [obj["metadata"]["name"]]
        for column in resource.columns:
            value = _lookup(obj, column.path)
            cells.append(human_age(value) if column.type == "date" else _cell(value, column.type))
        rows.append({"cells": cells, "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                                "metadata": obj["metadata"]}})
    return {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": resource_version},
            "columnDefinitions": columns, "rows": rows}
