"""A faithful fake Kubernetes API server for `networking.istio.io` custom objects, over real HTTP.

What the real kubernetes client relies on is real here: discovery of the served versions,
resourceVersion bumped on every write, 409 AlreadyExists / Conflict with Status bodies,
merge-patch and JSON-patch (415 for strategic merge on custom resources, as the real server),
delete preconditions, 404, label selectors. Tests can also make it fail: ``fail_next(n, status)``
answers the next n requests with that status (500s, 503s) or ``delay_next(n, seconds)``.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse

GROUP = "networking.istio.io"
PLURALS = {"virtualservices": "VirtualService", "destinationrules": "DestinationRule", "gateways": "Gateway",
           "services": "Service", "configmaps": "ConfigMap", "deployments": "Deployment"}
PATH = re.compile(r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))(?:/namespaces/(?P<ns>[^/]+))?"
                  r"/(?P<plural>[a-z]+)(?:/(?P<name>[^/]+))?$")
RETURNS_OBJECT_ON_DELETE = frozenset({"services", "virtualservices", "destinationrules", "gateways"})
# which (group, version) serves which resources; the Istio group's versions are configurable
OTHER_GROUPS = {("", "v1"): {"services", "configmaps"}, ("apps", "v1"): {"deployments"}}


class FakeApiServer:
    def __init__(self, versions: tuple[str, ...] = ("v1", "v1beta1", "v1alpha3")) -> None:
        self.versions = versions
        self.objects: dict[tuple[str, str, str], dict[str, Any]] = {}  # (plural, ns, name)
        self.lock = threading.Lock()
        self.resource_version = 1000
        self.requests: list[tuple[str, str]] = []
        self._failures: list[tuple[str, float]] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    # -- test controls ------------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 500) -> None:
        with self.lock:
            self._failures.extend([("status", status)] * count)

    def delay_next(self, count: int, seconds: float) -> None:
        with self.lock:
            self._failures.extend([("delay", seconds)] * count)

    def put(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Store an object directly (as if someone applied it)."""
        with self.lock:
            return self._store(_plural_of(obj), obj)

    def get(self, namespace: str, name: str, plural: str = "virtualservices") -> dict[str, Any] | None:
        with self.lock:
            found = self.objects.get((plural, namespace, name))
            return copy.deepcopy(found) if found else None

    @contextmanager
    def running(self) -> Iterator[FakeApiServer]:
        thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()

    def kubeconfig(self, context: str = "fake") -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Config", "current-context": context,
                "clusters": [{"name": "fake", "cluster": {"server": self.url}}],
                "users": [{"name": "fake", "user": {"token": "test-token"}}],
                "contexts": [{"name": context, "context": {"cluster": "fake", "user": "fake"}}]}

    # -- the API ------------------------------------------------------------------------------

    def _store(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        self.resource_version += 1
        stored = copy.deepcopy(obj)
        meta = stored.setdefault("metadata", {})
        meta.setdefault("namespace", "default")
        meta["resourceVersion"] = str(self.resource_version)
        meta.setdefault("uid", f"uid-{meta['namespace']}-{meta['name']}")
        meta.setdefault("generation", 1)
        self.objects[(plural, meta["namespace"], meta["name"])] = stored
        return copy.deepcopy(stored)

    def handle(self, method: str, path: str, query: dict[str, list[str]], headers: Any,
               body: Any) -> tuple[int, dict[str, Any]]:
        if path in ("/apis", "/apis/"):
            return 200, {"kind": "APIGroupList", "apiVersion": "v1", "groups": [self._group()]}
        if path == f"/apis/{GROUP}":
            return 200, self._group()
        match = PATH.match(path)
        if not match or not self._serves(match["group"] or "", match["core"] or match["version"], match["plural"]):
            return _status(404, "NotFound", f"the server could not find the requested resource ({path})")
        plural, ns, name = match["plural"], match["ns"], match["name"]
        kind = PLURALS[plural]
        with self.lock:
            if method == "GET" and name is None:
                items = [copy.deepcopy(o) for (p, n, _), o in sorted(self.objects.items())
                         if p == plural and ns in (None, n) and _selected(o, query.get("labelSelector", [""])[0])]
                return 200, {"apiVersion": match["core"] or f"{match['group']}/{match['version']}",
                             "kind": f"{kind}List", "items": items,
                             "metadata": {"resourceVersion": str(self.resource_version)}}
            key = (plural, ns or "default", name or (body or {}).get("metadata", {}).get("name", ""))
            current = self.objects.get(key)
            if method == "POST":
                if current is not None:
                    return _status(409, "AlreadyExists", f'{plural}.{GROUP} "{key[2]}" already exists')
                body.setdefault("metadata", {})["namespace"] = key[1]
                return 201, self._store(plural, body)
            if current is None:
                return _status(404, "NotFound", f'{plural}.{GROUP} "{key[2]}" not found')
            if method == "GET":
                return 200, copy.deepcopy(current)
            if method == "PUT":
                wanted = body.get("metadata", {}).get("resourceVersion")
                if not wanted:
                    return _status(422, "Invalid", "metadata.resourceVersion: Invalid value: 0x0: must be "
                                   "specified for an update")
                if wanted != current["metadata"]["resourceVersion"]:
                    return _conflict(plural, key[2])
                return 200, self._store(plural, body)
            if method == "PATCH":
                return self._patch(plural, key, current, headers.get("Content-Type", ""), body)
            if method == "DELETE":
                wanted = ((body or {}).get("preconditions") or {}).get("resourceVersion")
                if wanted and wanted != current["metadata"]["resourceVersion"]:
                    return _conflict(plural, key[2])
                del self.objects[key]
                if plural in RETURNS_OBJECT_ON_DELETE:  # as the real API server answers these
                    return 200, current
                return 200, {"kind": "Status", "apiVersion": "v1", "status": "Success",
                             "details": {"name": key[2], "kind": plural}}
        return _status(405, "MethodNotAllowed", f"{method} is not supported")

    def _patch(self, plural: str, key: tuple[str, str, str], current: dict[str, Any], content_type: str,
               body: Any) -> tuple[int, dict[str, Any]]:
        if content_type.startswith("application/merge-patch+json"):
            if not isinstance(body, dict):
                return _status(400, "BadRequest", "merge patch must be a JSON object")
            wanted = body.get("metadata", {}).get("resourceVersion")
            if wanted and wanted != current["metadata"]["resourceVersion"]:
                return _conflict(plural, key[2])
            return 200, self._store(plural, _merge_patch(copy.deepcopy(current), body))
        if content_type.startswith("application/json-patch+json"):
            try:
                return 200, self._store(plural, _json_patch(copy.deepcopy(current), body))
            except (KeyError, IndexError, ValueError, TypeError) as exc:
                return _status(422, "Invalid", f"json patch failed: {exc}")
        return _status(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                       f"accepted media types include: application/json-patch+json, application/merge-patch+json "
                       f"(got {content_type})")

    def _serves(self, group: str, version: str, plural: str) -> bool:
        if group == GROUP:
            return version in self.versions and plural in PLURALS and PLURALS[plural] in (
                "VirtualService", "DestinationRule", "Gateway")
        return plural in OTHER_GROUPS.get((group, version), set())

    def _group(self) -> dict[str, Any]:
        versions = [{"groupVersion": f"{GROUP}/{v}", "version": v} for v in self.versions]
        return {"kind": "APIGroup", "apiVersion": "v1", "name": GROUP, "versions": versions,
                "preferredVersion": versions[0]}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # 44 ms per request otherwise (Nagle + delayed ACK)

            def _serve(self) -> None:
                parsed = urlparse(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                server.requests.append((self.command, parsed.path))
                with server.lock:
                    failure = server._failures.pop(0) if server._failures else None
                if failure and failure[0] == "delay":
                    import time

                    time.sleep(failure[1])
                if failure and failure[0] == "status":
                    status, payload = _status(int(failure[1]), "InternalError", "injected failure")
                else:
                    try:
                        body = json.loads(raw) if raw else None
                    except ValueError:
                        status, payload = _status(400, "BadRequest", "invalid JSON")
                    else:
                        status, payload = server.handle(self.command, parsed.path, parse_qs(parsed.query),
                                                        self.headers, body)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def _plural_of(obj: dict[str, Any]) -> str:
    return next(p for p, k in PLURALS.items() if k == obj.get("kind", "VirtualService"))


def _status(code: int, reason: str, message: str) -> tuple[int, dict[str, Any]]:
    return code, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                  "message": message, "reason": reason, "code": code}


def _conflict(plural: str, name: str) -> tuple[int, dict[str, Any]]:
    return _status(409, "Conflict", f'Operation cannot be fulfilled on {plural}.{GROUP} "{name}": the object has '
                   "been modified; please apply your changes to the latest version and try again")


def _selected(obj: dict[str, Any], selector: str) -> bool:
    labels = obj.get("metadata", {}).get("labels") or {}
    for term in filter(None, selector.split(",")):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif labels.get(term) is None:
            return False
    return True


def _merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return patch
    if not isinstance(target, dict):
        target = {}
    for key, value in patch.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = _merge_patch(target.get(key), value)
    return target


def _json_patch(doc: Any, operations: list[dict[str, Any]]) -> Any:
    """RFC 6902 (add, remove, replace, test)."""
    for op in operations:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = doc
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        if op["op"] == "test":
            value = parent[int(last)] if isinstance(parent, list) else parent[last]
            if value != op["value"]:
                raise ValueError(f"test failed at {op['path']}")
        elif op["op"] == "remove":
            del parent[int(last) if isinstance(parent, list) else last]
        elif op["op"] in ("add", "replace"):
            if isinstance(parent, list):
                index = len(parent) if last == "-" else int(last)
                if op["op"] == "add":
                    parent.insert(index, op["value"])
                else:
                    parent[index] = op["value"]
            else:
                if op["op"] == "replace" and last not in parent:
                    raise KeyError(last)
                parent[last] = op["value"]
        else:
            raise ValueError(f"unsupported op {op['op']}")
    return doc
