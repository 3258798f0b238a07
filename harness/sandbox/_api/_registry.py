"""What a write does to an object: the generic registry of kube-apiserver, for every served resource.

Pinned semantics (each with its source; tests in tests/sandbox/test_apiserver.py cite them too):
- create stamps ``uid``, ``creationTimestamp``, ``resourceVersion`` and, for kinds whose spec is
  tracked, ``generation: 1``; a status sent with a create is dropped for kinds with a status
  subresource (``PrepareForCreate`` of each strategy); ``generateName`` gets a random suffix.
- an update (PUT) carrying a stale ``resourceVersion`` is a 409 Conflict; custom resources refuse
  an update without one (``AllowUnconditionalUpdate`` is false for CRDs); the main resource ignores
  status changes and the ``/status`` subresource ignores everything else; ``generation`` goes up only
  when something outside metadata and status changed; a write that changes nothing keeps the
  resourceVersion (https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions).
- delete of an object with finalizers sets ``deletionTimestamp`` and keeps it until an update empties
  the finalizers (https://kubernetes.io/docs/concepts/overview/working-with-objects/finalizers/);
  dependents whose ownerReferences name it go with it (background cascading deletion).
- JSON comes back as the Go server encodes it (``1.0`` -> ``1``); custom resources prune nulls.
- ``dryRun=All`` runs every step, admission included, and stores nothing.
"""

from __future__ import annotations

import base64
import copy
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from harness.sandbox._api._auth import SA_NAME_ANNOTATION, SA_TOKEN_TYPE
from harness.sandbox._api._managed import ApplyConflict, conflict_message, record_update, server_side_apply
from harness.sandbox._api._normalize import normalize
from harness.sandbox._api._patch import (
    APPLY,
    JSON_PATCH,
    MERGE,
    STRATEGIC,
    PatchError,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from harness.sandbox._api._resources import Resource
from harness.sandbox._api._storage import Store

Admission = Callable[[Resource, dict[str, Any]], None]  # raises ApiError to refuse


class ApiError(Exception):
    """An answer other than success: code, reason and message as in a metav1.Status."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code, self.reason, self.message, self.details = code, reason, message, details or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                                "message": self.message, "reason": self.reason, "code": self.code}
        if self.details:
            body["details"] = self.details
        return body


def _details(resource: Resource, name: str) -> dict[str, Any]:
    details = {"name": name, "kind": resource.plural}
    if resource.group:
        details["group"] = resource.group
    return details


def not_found(resource: Resource, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{resource.group_resource} "{name}" not found', _details(resource, name))


def conflict(resource: Resource, name: str) -> ApiError:
    return ApiError(409, "Conflict", f'Operation cannot be fulfilled on {resource.group_resource} "{name}": the object '
                    "has been modified; please apply your changes to the latest version and try again",
                    _details(resource, name))


def invalid(resource: Resource, name: str, field: str, message: str) -> ApiError:
    return ApiError(422, "Invalid", f'{resource.kind}.{resource.group or "core"} "{name}" is invalid: {field}: {message}'
                    if resource.group else f'{resource.kind} "{name}" is invalid: {field}: {message}',
                    {**_details(resource, name), "causes": [{"reason": "FieldValueInvalid", "message": message,
                                                             "field": field}]})


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _without_status_and_meta(obj: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in obj.items() if k not in ("metadata", "status", "apiVersion", "kind")}


def _comparable(obj: dict[str, Any]) -> dict[str, Any]:
    meta = {k: v for k, v in obj.get("metadata", {}).items() if k not in ("resourceVersion", "managedFields")}
    return {**{k: v for k, v in obj.items() if k not in ("apiVersion",)}, "metadata": meta}


class Registry:
    """Create, read, update, patch and delete over one Store, with admission before anything is stored."""

    def __init__(self, store: Store, admission: Admission, *, ca_cert: bytes = b"") -> None:
        self.store = store
        self.admission = admission
        self.ca_cert = ca_cert

    # -- reads ----------------------------------------------------------------------------------

    def get(self, resource: Resource, namespace: str, name: str) -> dict[str, Any]:
        found = self.store.get(resource.group, resource.plural, namespace, name)
        if found is None:
            raise not_found(resource, name)
        return found

    # -- create -----------------------------------------------------------------------------------

    def create(self, resource: Resource, namespace: str, body: Any, *, manager: str, dry_run: bool,
               api_version: str, managed_fields: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        obj = self._decoded(resource, body)
        meta = obj.setdefault("metadata", {})
        if resource.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise ApiError(400, "BadRequest", "the namespace of the provided object does not match the namespace "
                                                  "sent on the request")
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise invalid(resource, "", "metadata.name", "Required value: name or generateName is required")
            meta["name"] = meta["generateName"] + "".join(secrets.choice("bcdfghjklmnpqrstvwxz2456789") for _ in range(5))
        with self.store.lock:
            if resource.namespaced and self.store.get("", "namespaces", "", namespace) is None:
                raise ApiError(404, "NotFound", f'namespaces "{namespace}" not found',
                               {"name": namespace, "kind": "namespaces"})
            if self.store.get(resource.group, resource.plural, namespace if resource.namespaced else "", meta["name"]):
                raise ApiError(409, "AlreadyExists", f'{resource.group_resource} "{meta["name"]}" already exists',
                               _details(resource, meta["name"]))
            for key in ("uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "generation", "managedFields"):
                meta.pop(key, None)
            if resource.status:
                obj.pop("status", None)
            if resource.plural == "namespaces":
                obj["status"] = {"phase": "Active"}
            self._fill_token(resource, obj)
            self.admission(resource, obj)
            meta["uid"] = str(uuid.uuid4())
            meta["creationTimestamp"] = now_rfc3339()
            if resource.generation:
                meta["generation"] = 1
            meta["managedFields"] = managed_fields or record_update(
                None, obj, manager=manager, api_version=api_version, now=meta["creationTimestamp"],
                has_status=resource.status)
            if dry_run:
                meta["resourceVersion"] = ""
                return obj
            meta["resourceVersion"] = self.store.next_version()
            return self.store.put(resource.group, resource.plural, obj, "ADDED")

    # -- update and patch -------------------------------------------------------------------------

    def update(self, resource: Resource, namespace: str, name: str, body: Any, *, subresource: str, manager: str,
               dry_run: bool, api_version: str) -> dict[str, Any]:
        incoming = self._decoded(resource, body)
        meta = incoming.get("metadata") or {}
        if meta.get("name") not in (None, name):
            raise ApiError(400, "BadRequest", f'the name of the object ({meta.get("name")}) does not match the name on '
                                              f"the URL ({name})")
        with self.store.lock:
            live = self.get(resource, namespace, name)
            version = str(meta.get("resourceVersion") or "")
            if not version and resource.custom:
                raise invalid(resource, name, "metadata.resourceVersion",
                              "Invalid value: 0x0: must be specified for an update")
            if version and version != live["metadata"]["resourceVersion"]:
                raise conflict(resource, name)
            return self._write(resource, live, incoming, subresource=subresource, manager=manager, dry_run=dry_run,
                               api_version=api_version, operation="Update")

    def patch(self, resource: Resource, namespace: str, name: str, content_type: str, raw: Any, *, subresource: str,
              manager: str, force: bool, dry_run: bool, api_version: str) -> dict[str, Any]:
        if content_type == STRATEGIC and resource.custom:
            raise ApiError(415, "UnsupportedMediaType", "the body of the request was in an unknown format - accepted "
                           "media types include: application/json-patch+json, application/merge-patch+json, "
                           "application/apply-patch+yaml")
        with self.store.lock:
            live = self.store.get(resource.group, resource.plural, namespace if resource.namespaced else "", name)
            if content_type == APPLY:
                return self._apply(resource, namespace, name, live, raw, subresource=subresource, manager=manager,
                                   force=force, dry_run=dry_run, api_version=api_version)
            if live is None:
                raise not_found(resource, name)
            try:
                if content_type == MERGE:
                    patched = merge_patch(live, raw)
                elif content_type == JSON_PATCH:
                    patched = json_patch(live, raw)
                else:
                    patched = strategic_merge_patch(live, raw)
            except PatchError as exc:
                raise ApiError(exc.code, "Invalid" if exc.code == 422 else "BadRequest", str(exc)) from None
            if not isinstance(patched, dict):
                raise ApiError(400, "BadRequest", "the patch did not produce an object")
            asked = str((patched.get("metadata") or {}).get("resourceVersion") or "")
            if asked and asked != live["metadata"]["resourceVersion"]:  # a patch that carries one is a precondition
                raise conflict(resource, name)
            patched = self._decoded(resource, patched)
            return self._write(resource, live, patched, subresource=subresource, manager=manager, dry_run=dry_run,
                               api_version=api_version, operation="Update")

    def _apply(self, resource: Resource, namespace: str, name: str, live: dict[str, Any] | None, raw: Any, *,
               subresource: str, manager: str, force: bool, dry_run: bool, api_version: str) -> dict[str, Any]:
        if not isinstance(raw, dict):
            raise ApiError(400, "BadRequest", "error decoding YAML: the apply configuration must be an object")
        if not manager:
            raise invalid(resource, name, "metadata.managedFields",
                          "Required value: is required for apply patch (set the fieldManager parameter)")
        config = self._decoded(resource, raw)
        config.setdefault("metadata", {}).setdefault("name", name)
        if config["metadata"]["name"] != name:
            raise ApiError(400, "BadRequest", "the name of the object does not match the name on the URL")
        try:
            merged = server_side_apply(live, config, manager=manager, api_version=api_version, now=now_rfc3339(),
                                       force=force, subresource=subresource, has_status=resource.status)
        except ApplyConflict as exc:
            raise ApiError(409, "Conflict", conflict_message(exc.conflicts),
                           {**_details(resource, name), "causes": exc.causes}) from None
        if live is None:  # an apply creates what does not exist; the applier owns what it sent
            managed = merged["metadata"].pop("managedFields", None)
            return self.create(resource, namespace, merged, manager=manager, dry_run=dry_run, api_version=api_version,
                               managed_fields=managed)
        return self._write(resource, live, merged, subresource=subresource, manager=manager, dry_run=dry_run,
                           api_version=api_version, operation="Apply")

    def _write(self, resource: Resource, live: dict[str, Any], incoming: dict[str, Any], *, subresource: str,
               manager: str, dry_run: bool, api_version: str, operation: str) -> dict[str, Any]:
        new = copy.deepcopy(live)
        if subresource == "status":
            new["status"] = incoming.get("status")
            if new["status"] is None:
                new.pop("status")
        else:
            keep_status = live.get("status") if resource.status else incoming.get("status")
            new = {**incoming, "metadata": {**live["metadata"], **_user_metadata(incoming)}}
            if keep_status is not None:
                new["status"] = keep_status
            else:
                new.pop("status", None)
            for key in ("labels", "annotations", "finalizers", "ownerReferences"):
                if key not in (incoming.get("metadata") or {}):
                    new["metadata"].pop(key, None)
        new["apiVersion"], new["kind"] = live.get("apiVersion"), live.get("kind")
        if subresource != "status":
            self.admission(resource, new)
        if _comparable(new) == _comparable(live) and operation != "Apply":
            return live  # a no-op write: nothing stored, no new resourceVersion
        if resource.generation and _without_status_and_meta(new) != _without_status_and_meta(live):
            new["metadata"]["generation"] = int(live["metadata"].get("generation") or 1) + 1
        if operation == "Update":
            new["metadata"]["managedFields"] = record_update(live, new, manager=manager, api_version=api_version,
                                                             now=now_rfc3339(), subresource=subresource,
                                                             has_status=resource.status)
        if _comparable(new) == _comparable(live) and new["metadata"].get("managedFields") == live["metadata"].get(
                "managedFields"):
            return live
        if dry_run:
            return new
        meta = new["metadata"]
        if meta.get("deletionTimestamp") and not meta.get("finalizers"):
            return self._remove(resource, meta.get("namespace", ""), meta["name"]) or new
        meta["resourceVersion"] = self.store.next_version()
        return self.store.put(resource.group, resource.plural, new, "MODIFIED")

    # -- delete -----------------------------------------------------------------------------------

    def delete(self, resource: Resource, namespace: str, name: str, options: dict[str, Any], *,
               dry_run: bool) -> dict[str, Any]:
        with self.store.lock:
            live = self.get(resource, namespace, name)
            pre = options.get("preconditions") or {}
            if pre.get("resourceVersion") and pre["resourceVersion"] != live["metadata"]["resourceVersion"]:
                raise conflict(resource, name)
            if pre.get("uid") and pre["uid"] != live["metadata"]["uid"]:
                raise ApiError(409, "Conflict", f'Operation cannot be fulfilled on {resource.group_resource} "{name}": '
                               f'Precondition failed: UID in precondition: {pre["uid"]}, UID in object meta: '
                               f'{live["metadata"]["uid"]}', _details(resource, name))
            if dry_run:
                return live
            if live["metadata"].get("finalizers"):
                if not live["metadata"].get("deletionTimestamp"):
                    live["metadata"]["deletionTimestamp"] = now_rfc3339()
                    live["metadata"]["deletionGracePeriodSeconds"] = 0
                    live["metadata"]["resourceVersion"] = self.store.next_version()
                    return self.store.put(resource.group, resource.plural, live, "MODIFIED")
                return live
            removed = self._remove(resource, namespace if resource.namespaced else "", name)
            assert removed is not None
            return removed

    def _remove(self, resource: Resource, namespace: str, name: str) -> dict[str, Any] | None:
        removed = self.store.remove(resource.group, resource.plural, namespace, name)
        if removed is None:
            return None
        uid = removed["metadata"].get("uid")
        if resource.plural == "namespaces":  # the namespace controller empties it
            for group, plural, child in list(self.store.namespaces_in_use(name)):
                self.store.remove(group, plural, name, child)
        elif uid:  # garbage collection of dependents
            for group, plural, child in list(self.store.namespaces_in_use(namespace)):
                found = self.store.get(group, plural, namespace, child)
                owners = (found or {}).get("metadata", {}).get("ownerReferences") or []
                if any(o.get("uid") == uid for o in owners):
                    self.store.remove(group, plural, namespace, child)
        return removed

    # -- helpers ----------------------------------------------------------------------------------

    def _decoded(self, resource: Resource, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", f"the body of the request is not a {resource.kind} object")
        obj = normalize(copy.deepcopy(body), drop_nulls=resource.custom)
        kind = obj.get("kind")
        if kind not in (None, resource.kind):
            raise ApiError(400, "BadRequest", f"the object kind {kind!r} does not match the resource {resource.plural}")
        obj["kind"] = resource.kind
        obj.setdefault("apiVersion", resource.api_version())
        return dict(obj)

    def _fill_token(self, resource: Resource, obj: dict[str, Any]) -> None:
        """The legacy token controller: a service-account-token Secret gets token, ca.crt and namespace."""
        if resource.plural != "secrets" or obj.get("type") != SA_TOKEN_TYPE:
            return
        if not (obj["metadata"].get("annotations") or {}).get(SA_NAME_ANNOTATION):
            raise invalid(resource, obj["metadata"]["name"], f"metadata.annotations[{SA_NAME_ANNOTATION}]",
                          "Required value")
        data = obj.setdefault("data", {})
        data["token"] = base64.b64encode(secrets.token_urlsafe(48).encode()).decode()
        data["ca.crt"] = base64.b64encode(self.ca_cert).decode()
        data["namespace"] = base64.b64encode(obj["metadata"]["namespace"].encode()).decode()


def _user_metadata(incoming: dict[str, Any]) -> dict[str, Any]:
    """The metadata fields a client may change with an update (the rest is the server's)."""
    meta = incoming.get("metadata") or {}
    return {k: v for k, v in meta.items() if k in ("labels", "annotations", "finalizers", "ownerReferences")}
