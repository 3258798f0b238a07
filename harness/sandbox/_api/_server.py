"""The sandbox's Kubernetes API server: HTTPS, bearer tokens, RBAC, admission, REST verbs and watch.

One request goes as in kube-apiserver's handler chain: authentication (401), RequestInfo (verb,
group, resource, namespace, name), authorization (403 with the real message), then the registry
(admission runs inside it, before anything is stored). Request paths and verbs follow
https://kubernetes.io/docs/reference/using-api/api-concepts/ ; watches stream newline-delimited
``{"type", "object"}`` events over chunked HTTP/1.1 and answer a too-old resourceVersion with an
ERROR event carrying a 410 Expired Status.
"""

from __future__ import annotations

import json
import logging
import re
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from harness.sandbox._api import _discovery as discovery
from harness.sandbox._api._auth import Attributes, Authenticator, Authorizer, User, forbidden_message
from harness.sandbox._api._normalize import load_yaml
from harness.sandbox._api._patch import APPLY, PATCH_TYPES
from harness.sandbox._api._registry import Admission, ApiError, Registry
from harness.sandbox._api._resources import Resource, ResourceTable
from harness.sandbox._api._selectors import field_selector, label_selector
from harness.sandbox._api._storage import Store, TooOldError

log = logging.getLogger("harness.sandbox.apiserver")
MAX_WATCH_S = 1800
_RESOURCE_PATH = re.compile(
    r"^/(?:api/(?P<core>v1)|apis/(?P<group>[^/]+)/(?P<version>[^/]+))"
    r"(?:/namespaces/(?P<ns>[^/]+)(?=/))?/(?P<plural>[^/]+)(?:/(?P<name>[^/]+))?(?:/(?P<sub>[^/]+))?$")


@dataclass(frozen=True)
class Target:
    """A resource request, parsed: which resource, at which version, which object."""

    resource: Resource
    version: str
    namespace: str
    name: str
    subresource: str

    @property
    def api_version(self) -> str:
        return self.resource.api_version(self.version)

    @property
    def stored_in(self) -> str:
        """The namespace the object is stored under: "" for cluster-scoped objects. A Namespace's own name is its
        request's namespace for authorization (k8s.io/apiserver RequestInfoFactory) but not where it is stored."""
        return self.namespace if self.resource.namespaced else ""


class ApiServer:
    """The API's state and behaviour; ``serve`` puts it behind HTTPS."""

    def __init__(self, store: Store, *, static_tokens: dict[str, dict[str, Any]], admission: Admission,
                 istio_versions: tuple[str, ...] = ("v1", "v1beta1", "v1alpha3"), ca_cert: bytes = b"") -> None:
        self.store = store
        self.table = ResourceTable(istio_versions)
        self.registry = Registry(store, admission, ca_cert=ca_cert)
        self.authn = Authenticator(static_tokens, store.read)
        self.authz = Authorizer(store.read)
        self.address = ""
        self.faults: list[tuple[str, float]] = []  # sandbox-only: ("status", code) or ("delay", seconds)
        self.faults_lock = threading.Lock()

    def set_faults(self, body: dict[str, Any]) -> dict[str, Any]:
        """``POST /debug/faults`` (system:masters only): the next ``count`` resource requests answer
        ``status`` or wait ``delay_s`` first; how tests make a cluster's API flaky (5xx storms, slowness). With
        ``after_commit`` the request is carried out and only its answer is ``status`` (kube-apiserver answers 504
        when a write outlives the request timeout yet commits): the client cannot tell whether it happened."""
        count = int(body.get("count") or 0)
        if body.get("delay_s"):
            entry = ("delay", float(body["delay_s"]))
        else:  # lost: the request takes effect, then the answer is an error (a timeout after the write committed)
            entry = ("lost" if body.get("after_commit") else "status", float(body.get("status", 500)))
        with self.faults_lock:
            self.faults = [entry] * count if body.get("replace", True) else self.faults + [entry] * count
            return {"pending": len(self.faults)}

    def next_fault(self) -> tuple[str, float] | None:
        with self.faults_lock:
            return self.faults.pop(0) if self.faults else None

    # -- request parsing --------------------------------------------------------------------------

    def parse(self, path: str) -> Target | None:
        match = _RESOURCE_PATH.match(path)
        if not match:
            return None
        group = match["group"] or ""
        version = match["core"] or match["version"]
        namespace, plural, name, sub = match["ns"] or "", match["plural"], match["name"] or "", match["sub"] or ""
        if not match["ns"] and plural == "namespaces" and name:  # /api/v1/namespaces/NAME[/status]
            namespace = name
        resource = self.table.find(group, version, plural)
        if resource is None or (sub and not (sub == "status" and resource.status)):
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if not resource.namespaced and match["ns"]:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        return Target(resource, version, namespace if resource.namespaced or plural == "namespaces" else "", name, sub)

    def attributes(self, method: str, target: Target, query: dict[str, str]) -> Attributes:
        if method == "GET":
            verb = "get" if target.name else ("watch" if _truthy(query.get("watch")) else "list")
        else:
            verb = {"POST": "create", "PUT": "update", "PATCH": "patch",
                    "DELETE": "delete" if target.name else "deletecollection"}.get(method, method.lower())
        return Attributes(verb, target.resource.group, target.resource.plural, target.subresource,
                          target.namespace, target.name)

    def check(self, user: User, attrs: Attributes, group_resource: str = "") -> None:
        if not self.authz.allowed(user, attrs):
            raise ApiError(403, "Forbidden", forbidden_message(user, attrs, group_resource),
                           {"name": attrs.name, "group": attrs.group, "kind": attrs.resource} if attrs.resource_request
                           else None)

    # -- non-resource answers ---------------------------------------------------------------------

    def non_resource(self, path: str) -> Any:
        path = path.rstrip("/") or "/"  # the Python client asks for "/apis/"
        if path in ("/healthz", "/readyz", "/livez"):
            return "ok"
        if path == "/version":
            return discovery.VERSION_INFO
        if path == "/api":
            return discovery.api_versions(self.address)
        if path == "/apis":
            return discovery.api_group_list(self.table)
        if path == "/api/v1":
            return discovery.api_resource_list(self.table, "", "v1")
        if path == "/openapi/v2":
            return discovery.openapi_v2()
        if path == "/openapi/v3":
            return discovery.openapi_v3_root(self.table)
        parts = path.strip("/").split("/")
        if parts[:2] == ["openapi", "v3"]:
            rest = parts[2:]
            if rest[:1] == ["api"] and len(rest) == 2:
                return discovery.openapi_v3_group_version(self.table, "", rest[1])
            if rest[:1] == ["apis"] and len(rest) == 3:
                return discovery.openapi_v3_group_version(self.table, rest[1], rest[2])
            return None
        if len(parts) == 2 and parts[0] == "apis":
            return discovery.api_group(self.table, parts[1])
        if len(parts) == 3 and parts[0] == "apis":
            return discovery.api_resource_list(self.table, parts[1], parts[2])
        return None

    # -- reviews ----------------------------------------------------------------------------------

    def review(self, user: User, target: Target, body: dict[str, Any]) -> dict[str, Any]:
        spec = body.get("spec") or {}
        if target.resource.plural == "selfsubjectaccessreviews":
            attrs_in = spec.get("resourceAttributes")
            if attrs_in is not None:
                attrs = Attributes(str(attrs_in.get("verb", "")), str(attrs_in.get("group", "")),
                                   str(attrs_in.get("resource", "")), str(attrs_in.get("subresource", "")),
                                   str(attrs_in.get("namespace", "")), str(attrs_in.get("name", "")))
            else:
                other = spec.get("nonResourceAttributes") or {}
                attrs = Attributes(str(other.get("verb", "")), path=str(other.get("path", "")), resource_request=False)
            allowed = self.authz.allowed(user, attrs)
            status: dict[str, Any] = {"allowed": allowed}
            if allowed:
                status["reason"] = "RBAC: allowed"
            return {"kind": "SelfSubjectAccessReview", "apiVersion": target.api_version,
                    "metadata": {"creationTimestamp": None}, "spec": spec, "status": status}
        namespace = str(spec.get("namespace") or "")
        rules = self.authz.rules_for(user, namespace)
        if "system:masters" in user.groups:
            rules = [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
        resource_rules = [{k: r[k] for k in ("verbs", "apiGroups", "resources", "resourceNames") if r.get(k)}
                          for r in rules if not r.get("nonResourceURLs")]
        resource_rules.append({"verbs": ["create"], "apiGroups": ["authorization.k8s.io"],
                               "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"]})
        return {"kind": "SelfSubjectRulesReview", "apiVersion": target.api_version,
                "metadata": {"creationTimestamp": None}, "spec": spec,
                "status": {"resourceRules": resource_rules,
                           "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/api", "/api/*", "/apis",
                                                                                       "/apis/*", "/version"]}],
                           "incomplete": False}}

    # -- lists and watches ------------------------------------------------------------------------

    def list(self, target: Target, query: dict[str, str]) -> tuple[list[dict[str, Any]], str]:
        resource = target.resource
        namespace = target.namespace if resource.namespaced and target.namespace else None
        with self.store.lock:
            items = self.store.list(resource.group, resource.plural, namespace)
            version = str(self.store.resource_version)
        keep = _selector(query)
        return [self.present(target, o) for o in items if keep(o)], version

    def present(self, target: Target, obj: dict[str, Any]) -> dict[str, Any]:
        """An object as the asked version shows it (Istio's versions share one schema)."""
        obj["apiVersion"] = target.api_version
        return obj

    def watch(self, target: Target, query: dict[str, str], send: Callable[[dict[str, Any]], None]) -> None:
        resource = target.resource
        namespace = target.namespace if resource.namespaced and target.namespace else None
        keep = _selector(query)
        asked = query.get("resourceVersion") or ""
        timeout = min(float(query.get("timeoutSeconds") or MAX_WATCH_S), MAX_WATCH_S)
        deadline = time.monotonic() + timeout
        if asked in ("", "0"):  # "any": the current state as ADDED events first
            items, version = self.list(target, query)
            for obj in items:
                if namespace in (None, obj["metadata"].get("namespace")):
                    send({"type": "ADDED", "object": obj})
            last = int(version)
        else:
            last = int(asked)
        while time.monotonic() < deadline:
            with self.store.changed:
                try:
                    events = self.store.events_after(last, resource.group, resource.plural)
                except TooOldError as exc:
                    send({"type": "ERROR", "object": ApiError(410, "Expired", f"too old resource version: {exc.asked} "
                                                                              f"({exc.oldest})").status()})
                    return
                if not events:
                    self.store.changed.wait(min(1.0, max(0.0, deadline - time.monotonic())))
                    continue
            for event in events:
                last = event.resource_version
                if namespace not in (None, event.namespace) or not keep(event.obj):
                    continue
                send({"type": event.type, "object": self.present(target, dict(event.obj))})


def _is_dry_run(query: dict[str, str], delete_options: Any) -> bool:
    """``?dryRun=All``, or DeleteOptions ``{"dryRun": ["All"]}`` in a DELETE's body."""
    from_body = delete_options.get("dryRun") if isinstance(delete_options, dict) else None
    return query.get("dryRun") == "All" or "All" in (from_body or [])


def _truthy(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true")


def _selector(query: dict[str, str]) -> Callable[[dict[str, Any]], bool]:
    by_label = label_selector(query.get("labelSelector") or "")
    by_field = field_selector(query.get("fieldSelector") or "")
    return lambda obj: by_label(obj) and by_field(obj)


def field_manager(query: dict[str, str], user_agent: str) -> str:
    """``fieldManager``, else the user agent up to its first '/' (as the real server defaults it)."""
    return query.get("fieldManager") or (user_agent.split("/", 1)[0] if user_agent else "unknown")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "sandbox-apiserver"
    # headers and body go out in two writes; with Nagle on, the body waits for the client's delayed ACK
    # (40 ms on Linux) on every request. Go's net package, and so kube-apiserver, sets TCP_NODELAY too.
    disable_nagle_algorithm = True
    api: ApiServer  # set on the subclass by ``serve``

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def do_PUT(self) -> None:  # noqa: N802
        self._handle("PUT")

    def do_PATCH(self) -> None:  # noqa: N802
        self._handle("PATCH")

    def do_DELETE(self) -> None:  # noqa: N802
        self._handle("DELETE")

    # -- one request ------------------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        parsed = urllib.parse.urlsplit(self.path)
        query = {k: v[-1] for k, v in urllib.parse.parse_qs(parsed.query).items()}
        try:
            body = self._body()
            user = self.api.authn.user(self.headers.get("Authorization"))
            if user is None:
                raise ApiError(401, "Unauthorized", "Unauthorized")
            if parsed.path == "/debug/faults" and method == "POST":
                self.api.check(user, Attributes("create", path=parsed.path, resource_request=False))
                self._send(200, self.api.set_faults(body or {}))
                return
            target = self.api.parse(parsed.path)
            fault = self.api.next_fault() if target is not None else None
            if fault and fault[0] == "delay":
                time.sleep(fault[1])
            elif fault and fault[0] == "lost" and target is not None:
                self._carry_out_then_lose(method, target, query, body, user, int(fault[1]))
                return
            elif fault:
                code = int(fault[1])
                reason = "ServiceUnavailable" if code == 503 else "InternalError"
                raise ApiError(code, reason, f"injected by the sandbox: {reason}")
            if target is None:
                self._non_resource(method, parsed.path, user)
                return
            attrs = self.api.attributes(method, target, query)
            self.api.check(user, attrs, target.resource.group_resource)
            self._resource(method, target, attrs, query, body, user)
        except ApiError as exc:
            self._send(exc.code, exc.status())
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as exc:  # a bug here must still be an answer, as the real server's panic filter gives
            log.exception("internal error on %s %s", method, self.path)
            self._send(500, ApiError(500, "InternalError", f"Internal error occurred: {exc}").status())

    def _carry_out_then_lose(self, method: str, target: Target, query: dict[str, str], body: Any, user: Any,
                             code: int) -> None:
        attrs = self.api.attributes(method, target, query)
        self.api.check(user, attrs, target.resource.group_resource)
        self._swallowing = True
        try:
            self._resource(method, target, attrs, query, body, user)
        except ApiError:
            pass
        finally:
            self._swallowing = False
        self._send(code, ApiError(code, "Timeout", "Timeout: request did not complete within requested timeout - "
                                  "context deadline exceeded (injected by the sandbox after the write)").status())

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        content_type = (self.headers.get("Content-Type") or "application/json").split(";")[0].strip()
        try:
            return load_yaml(raw) if content_type == APPLY else json.loads(raw)
        except (ValueError, Exception) as exc:  # yaml.YAMLError or json's ValueError
            raise ApiError(400, "BadRequest", f"error decoding request body: {exc}") from None

    def _non_resource(self, method: str, path: str, user: User) -> None:
        attrs = Attributes(method.lower() if method != "GET" else "get", path=path, resource_request=False)
        self.api.check(user, attrs)
        answer = self.api.non_resource(path) if method == "GET" else None
        if answer is None:
            raise ApiError(404, "NotFound", "the server could not find the requested resource")
        if isinstance(answer, str):
            self._send_raw(200, answer.encode(), "text/plain")
        else:
            self._send(200, answer)

    def _resource(self, method: str, target: Target, attrs: Attributes, query: dict[str, str], body: Any,
                  user: User) -> None:
        api, registry, resource = self.api, self.api.registry, target.resource
        dry_run = _is_dry_run(query, body if method == "DELETE" else None)
        manager = field_manager(query, self.headers.get("User-Agent") or "")
        if resource.plural in ("selfsubjectaccessreviews", "selfsubjectrulesreviews"):
            if method != "POST":
                raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")
            self._send(201, api.review(user, target, body or {}))
            return
        if attrs.verb == "get":
            found = registry.get(resource, target.stored_in, target.name)
            if "as=Table" in (self.headers.get("Accept") or ""):  # `kubectl get KIND NAME` prints the same columns
                self._send(200, discovery.as_table(resource, [found], found["metadata"]["resourceVersion"]))
                return
            self._send(200, api.present(target, found))
        elif attrs.verb == "list":
            items, version = api.list(target, query)
            if "as=Table" in (self.headers.get("Accept") or ""):
                self._send(200, discovery.as_table(resource, items, version))
                return
            if not resource.custom:
                items = [{k: v for k, v in o.items() if k not in ("apiVersion", "kind")} for o in items]
            self._send(200, {"kind": f"{resource.kind}List", "apiVersion": target.api_version,
                             "metadata": {"resourceVersion": version}, "items": items})
        elif attrs.verb == "watch":
            self._stream(target, query)
        elif attrs.verb == "create":
            created = registry.create(resource, target.namespace, body, manager=manager, dry_run=dry_run,
                                      api_version=target.api_version)
            self._send(201, api.present(target, created))
        elif attrs.verb == "update":
            updated = registry.update(resource, target.stored_in, target.name, body, subresource=target.subresource,
                                      manager=manager, dry_run=dry_run, api_version=target.api_version)
            self._send(200, api.present(target, updated))
        elif attrs.verb == "patch":
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip()
            if content_type not in PATCH_TYPES:
                raise ApiError(415, "UnsupportedMediaType", f"the body of the request was in an unknown format - "
                               f"accepted media types include: {', '.join(PATCH_TYPES)}")
            patched = registry.patch(resource, target.stored_in, target.name, content_type, body,
                                     subresource=target.subresource, manager=manager,
                                     force=_truthy(query.get("force")), dry_run=dry_run, api_version=target.api_version)
            self._send(200, api.present(target, patched))
        elif attrs.verb == "delete":
            removed = registry.delete(resource, target.stored_in, target.name, body or {}, dry_run=dry_run)
            if resource.returns_object or removed["metadata"].get("deletionTimestamp"):
                self._send(200, api.present(target, removed))
            else:
                self._send(200, {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                                 "details": {"name": target.name, "group": resource.group, "kind": resource.plural,
                                             "uid": removed["metadata"].get("uid")}})
        elif attrs.verb == "deletecollection":
            items, version = api.list(target, query)
            removed = [registry.delete(resource, o["metadata"].get("namespace", ""), o["metadata"]["name"], {},
                                       dry_run=dry_run) for o in items]
            self._send(200, {"kind": f"{resource.kind}List", "apiVersion": target.api_version,
                             "metadata": {"resourceVersion": version}, "items": removed})
        else:
            raise ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource")

    # -- writing answers --------------------------------------------------------------------------

    def _send(self, code: int, body: Any) -> None:
        self._send_raw(code, json.dumps(body).encode(), "application/json")

    def _send_raw(self, code: int, data: bytes, content_type: str) -> None:
        if getattr(self, "_swallowing", False):  # the answer of a request whose answer is to be lost
            return
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, target: Target, query: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("Cache-Control", "no-cache, private")
        self.end_headers()

        def send(event: dict[str, Any]) -> None:
            line = json.dumps(event).encode() + b"\n"
            self.wfile.write(f"{len(line):x}\r\n".encode() + line + b"\r\n")
            self.wfile.flush()

        try:
            self.api.watch(target, query, send)
            self.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def serve(api: ApiServer, *, host: str, port: int, cert: str, key: str) -> ThreadingHTTPServer:
    """Bind (port 0 picks a free one), wrap in TLS, and serve on a daemon thread."""
    handler = type("BoundHandler", (Handler,), {"api": api})
    server = _Server((host, port), handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    api.address = f"{host}:{server.server_address[1]}"
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="apiserver", daemon=True).start()
    return server
