"""The resource table: every kind the sandbox API serves, with the traits the real server gives it."""

from __future__ import annotations

from dataclasses import dataclass

ISTIO_GROUP = "networking.istio.io"
CRUD_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True)
class Column:
    """One Table column: name, JSON path into the object (dotted) and Table type."""

    name: str
    path: str
    type: str = "string"


@dataclass(frozen=True)
class Resource:
    """One served resource (plural) in one API group."""

    group: str
    plural: str
    kind: str
    versions: tuple[str, ...] = ("v1",)
    namespaced: bool = True
    status: bool = False            # has a /status subresource
    custom: bool = False            # a CustomResourceDefinition kind (no strategic merge patch)
    generation: bool = False        # metadata.generation tracks spec changes
    returns_object: bool = False    # DELETE answers with the object (ReturnDeletedObject in the registry)
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = CRUD_VERBS
    columns: tuple[Column, ...] = ()

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def group_resource(self) -> str:
        """``plural.group`` as the real server names it in messages (``plural`` for core)."""
        return f"{self.plural}.{self.group}" if self.group else self.plural

    def api_version(self, version: str | None = None) -> str:
        chosen = version or self.versions[0]
        return f"{self.group}/{chosen}" if self.group else chosen


_AGE = Column("Age", "metadata.creationTimestamp", "date")


def _istio(plural: str, kind: str, short: tuple[str, ...], columns: tuple[Column, ...] = ()) -> Resource:
    # Istio's CRDs (manifests/charts/base/files/crd-all.gen.yaml): status subresource, categories istio-io and
    # networking-istio-io, additionalPrinterColumns as below.
    return Resource(ISTIO_GROUP, plural, kind, ("v1", "v1beta1", "v1alpha3"), status=True, custom=True,
                    generation=True, returns_object=True, short_names=short,
                    categories=("istio-io", "networking-istio-io"), columns=(*columns, _AGE))


ISTIO_RESOURCES: tuple[Resource, ...] = (
    _istio("virtualservices", "VirtualService", ("vs",),
           (Column("Gateways", "spec.gateways"), Column("Hosts", "spec.hosts"))),
    _istio("destinationrules", "DestinationRule", ("dr",), (Column("Host", "spec.host"),)),
    _istio("gateways", "Gateway", ("gw",)),
    _istio("serviceentries", "ServiceEntry", ("se",),
           (Column("Hosts", "spec.hosts"), Column("Location", "spec.location"),
            Column("Resolution", "spec.resolution"))),
    _istio("sidecars", "Sidecar", ()),
)

# ReturnDeletedObject is true for pods, services, serviceaccounts and persistentvolumeclaims
# (pkg/registry/core/*/storage/storage.go). Short names, categories and the status subresource are each
# resource's REST storage in pkg/registry; metadata.generation is set by the strategies that track spec
# changes (apps and batch: PrepareForCreate sets 1, PrepareForUpdate adds 1 when the spec changed).
BUILTIN_RESOURCES: tuple[Resource, ...] = (
    Resource("", "namespaces", "Namespace", namespaced=False, status=True, short_names=("ns",),
             returns_object=True, verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
             columns=(Column("Status", "status.phase"), _AGE)),
    Resource("", "services", "Service", status=True, returns_object=True, short_names=("svc",),
             categories=("all",),
             columns=(Column("Type", "spec.type"), Column("Cluster-IP", "spec.clusterIP"), _AGE)),
    Resource("", "endpoints", "Endpoints", short_names=("ep",)),
    Resource("", "pods", "Pod", status=True, returns_object=True, short_names=("po",), categories=("all",),
             columns=(Column("Status", "status.phase"), Column("IP", "status.podIP"), _AGE)),
    Resource("", "configmaps", "ConfigMap", short_names=("cm",)),
    Resource("", "serviceaccounts", "ServiceAccount", returns_object=True, short_names=("sa",)),
    Resource("", "secrets", "Secret", columns=(Column("Type", "type"), _AGE)),
    Resource("", "persistentvolumeclaims", "PersistentVolumeClaim", status=True, returns_object=True,
             short_names=("pvc",),
             columns=(Column("Status", "status.phase"), Column("Volume", "spec.volumeName"),
                      Column("StorageClass", "spec.storageClassName"), _AGE)),
    Resource("", "events", "Event", short_names=("ev",)),
    Resource("apps", "deployments", "Deployment", status=True, generation=True, short_names=("deploy",),
             categories=("all",),
             columns=(Column("Replicas", "spec.replicas", "integer"),
                      Column("Available", "status.availableReplicas", "integer"), _AGE)),
    Resource("batch", "cronjobs", "CronJob", status=True, generation=True, short_names=("cj",), categories=("all",),
             columns=(Column("Schedule", "spec.schedule"), Column("Timezone", "spec.timeZone"),
                      Column("Suspend", "spec.suspend", "boolean"),
                      Column("Last Schedule", "status.lastScheduleTime", "date"), _AGE)),
    Resource("batch", "jobs", "Job", status=True, generation=True, categories=("all",), columns=(_AGE,)),
    Resource("rbac.authorization.k8s.io", "roles", "Role"),
    Resource("rbac.authorization.k8s.io", "rolebindings", "RoleBinding"),
    Resource("rbac.authorization.k8s.io", "clusterroles", "ClusterRole", namespaced=False),
    Resource("rbac.authorization.k8s.io", "clusterrolebindings", "ClusterRoleBinding", namespaced=False),
    Resource("coordination.k8s.io", "leases", "Lease"),
    Resource("authorization.k8s.io", "selfsubjectaccessreviews", "SelfSubjectAccessReview", namespaced=False,
             verbs=("create",)),
    Resource("authorization.k8s.io", "selfsubjectrulesreviews", "SelfSubjectRulesReview", namespaced=False,
             verbs=("create",)),
)

REVIEW_PLURALS = frozenset({"selfsubjectaccessreviews", "selfsubjectrulesreviews"})


class ResourceTable:
    """The resources served, with the Istio group's versions as configured."""

    def __init__(self, istio_versions: tuple[str, ...] = ("v1", "v1beta1", "v1alpha3")) -> None:
        istio = tuple(_with_versions(r, istio_versions) for r in ISTIO_RESOURCES) if istio_versions else ()
        self.resources: tuple[Resource, ...] = BUILTIN_RESOURCES + istio
        self._by_key = {(r.group, v, r.plural): r for r in self.resources for v in r.versions}
        self._by_kind = {(r.group, r.kind): r for r in self.resources}

    def find(self, group: str, version: str, plural: str) -> Resource | None:
        return self._by_key.get((group, version, plural))

    def by_kind(self, group: str, kind: str) -> Resource | None:
        return self._by_kind.get((group, kind))

    def by_plural(self, group: str, plural: str) -> Resource | None:
        return next((r for r in self.resources if r.group == group and r.plural == plural), None)

    def groups(self) -> dict[str, tuple[str, ...]]:
        """Every named group (not core) with its versions, preferred first."""
        found: dict[str, tuple[str, ...]] = {}
        for resource in self.resources:
            if resource.group:
                found.setdefault(resource.group, resource.versions)
        return found

    def in_group_version(self, group: str, version: str) -> list[Resource]:
        return [r for r in self.resources if r.group == group and version in r.versions]


def _with_versions(resource: Resource, versions: tuple[str, ...]) -> Resource:
    from dataclasses import replace

    return replace(resource, versions=versions)
