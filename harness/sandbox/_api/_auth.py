"""Who is asking (bearer tokens) and may they (RBAC), as kube-apiserver decides it.

Authentication: static tokens (kube-apiserver's ``--token-auth-file``) and ServiceAccount tokens from
``kubernetes.io/service-account-token`` Secrets, which name the user
``system:serviceaccount:<namespace>:<name>`` in the groups ``system:serviceaccounts``,
``system:serviceaccounts:<namespace>`` and ``system:authenticated``
(https://kubernetes.io/docs/reference/access-authn-authz/authentication/#service-account-tokens).

Authorization: ``system:masters`` may do anything; everyone authenticated may read discovery and
create Self*Reviews (the bootstrap ClusterRoles ``system:discovery`` and ``system:basic-user``);
everything else is what the stored Roles/ClusterRoles grant through RoleBindings/ClusterRoleBindings
(https://kubernetes.io/docs/reference/access-authn-authz/rbac/, plugin/pkg/auth/authorizer/rbac/rbac.go).
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

RBAC_GROUP = "rbac.authorization.k8s.io"
SA_TOKEN_TYPE = "kubernetes.io/service-account-token"
SA_NAME_ANNOTATION = "kubernetes.io/service-account.name"
ObjectReader = Callable[[str, str, str | None], list[dict[str, Any]]]  # (group, plural, namespace) -> objects


@dataclass(frozen=True)
class User:
    name: str
    groups: tuple[str, ...] = ()
    uid: str = ""


@dataclass(frozen=True)
class Attributes:
    """What a request does, as the API server's RequestInfo describes it."""

    verb: str
    group: str = ""
    resource: str = ""
    subresource: str = ""
    namespace: str = ""
    name: str = ""
    path: str = ""
    resource_request: bool = True


@dataclass
class Authenticator:
    static_tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    read: ObjectReader | None = None

    def user(self, authorization: str | None) -> User | None:
        """The user a ``Bearer`` token names, or None (the server answers 401)."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return None
        token = authorization[7:].strip()
        for known, info in self.static_tokens.items():
            if hmac.compare_digest(known, token):
                groups = tuple(info.get("groups") or ("system:authenticated",))
                return User(str(info["username"]), groups)
        return self._service_account(token)

    def _service_account(self, token: str) -> User | None:
        if self.read is None:
            return None
        encoded = base64.b64encode(token.encode()).decode()
        for secret in self.read("", "secrets", None):
            data = secret.get("data") or {}
            if secret.get("type") != SA_TOKEN_TYPE or not hmac.compare_digest(str(data.get("token", "")), encoded):
                continue
            meta = secret["metadata"]
            account = (meta.get("annotations") or {}).get(SA_NAME_ANNOTATION, "")
            namespace = meta["namespace"]
            return User(f"system:serviceaccount:{namespace}:{account}",
                        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", "system:authenticated"))
        return None


def _matches(values: Iterable[str], wanted: str) -> bool:
    values = list(values or [])
    return "*" in values or wanted in values


def _rule_allows(rule: dict[str, Any], attrs: Attributes) -> bool:
    if not _matches(rule.get("verbs") or [], attrs.verb):
        return False
    if not attrs.resource_request:
        urls = rule.get("nonResourceURLs") or []
        return any(u == attrs.path or u == "*" or (u.endswith("*") and attrs.path.startswith(u[:-1])) for u in urls)
    if not _matches(rule.get("apiGroups") or [], attrs.group):
        return False
    resources = rule.get("resources") or []
    wanted = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    if not ("*" in resources or wanted in resources
            or (attrs.subresource and f"*/{attrs.subresource}" in resources)):
        return False
    names = rule.get("resourceNames") or []
    return not names or (bool(attrs.name) and attrs.name in names)


def _subject_matches(subject: dict[str, Any], user: User, binding_namespace: str) -> bool:
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(name == user.name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return user.name == f"system:serviceaccount:{namespace}:{name}"
    return False


class Authorizer:
    """RBAC over the Roles and bindings stored in the API, plus the bootstrap policy above."""

    def __init__(self, read: ObjectReader) -> None:
        self.read = read

    def rules_for(self, user: User, namespace: str) -> list[dict[str, Any]]:
        """Every rule that applies to ``user`` in ``namespace`` ("" for cluster scope)."""
        rules: list[dict[str, Any]] = []
        bindings = [(b, "") for b in self.read(RBAC_GROUP, "clusterrolebindings", None)]
        if namespace:
            bindings += [(b, namespace) for b in self.read(RBAC_GROUP, "rolebindings", namespace)]
        for binding, scope in bindings:
            if not any(_subject_matches(s, user, scope) for s in binding.get("subjects") or []):
                continue
            ref = binding.get("roleRef") or {}
            if ref.get("kind") == "ClusterRole":
                roles = [r for r in self.read(RBAC_GROUP, "clusterroles", None) if r["metadata"]["name"] == ref.get("name")]
            else:
                roles = [r for r in self.read(RBAC_GROUP, "roles", scope) if r["metadata"]["name"] == ref.get("name")]
            for role in roles:
                rules.extend(role.get("rules") or [])
        return rules

    def allowed(self, user: User, attrs: Attributes) -> bool:
        if "system:masters" in user.groups:
            return True
        if _bootstrap_allows(user, attrs):
            return True
        return any(_rule_allows(rule, attrs) for rule in self.rules_for(user, attrs.namespace))


def _bootstrap_allows(user: User, attrs: Attributes) -> bool:
    if "system:authenticated" not in user.groups:
        return False
    if not attrs.resource_request:
        return attrs.verb == "get"  # system:discovery, system:public-info-viewer
    return attrs.group == "authorization.k8s.io" and attrs.verb == "create" and attrs.resource in (
        "selfsubjectaccessreviews", "selfsubjectrulesreviews")


def forbidden_message(user: User, attrs: Attributes, group_resource: str) -> str:
    """The message of the real 403 (staging/src/k8s.io/apiserver/pkg/endpoints/handlers/responsewriters/errors.go)."""
    if not attrs.resource_request:
        return f'forbidden: User "{user.name}" cannot {attrs.verb} path "{attrs.path}"'
    what = f'{group_resource} "{attrs.name}"' if attrs.name else group_resource
    resource = f"{attrs.resource}/{attrs.subresource}" if attrs.subresource else attrs.resource
    scope = f'in the namespace "{attrs.namespace}"' if attrs.namespace else "at the cluster scope"
    return (f'{what} is forbidden: User "{user.name}" cannot {attrs.verb} resource "{resource}" '
            f'in API group "{attrs.group}" {scope}')
