"""Where the kubernetes client's credentials come from: a kubeconfig context, or the pod's ServiceAccount.

The order is the one users expect of kubectl-like tools: an explicit ``--kubeconfig``/``--context`` (or
``$KUBECONFIG``) wins; inside a pod (``KUBERNETES_SERVICE_HOST`` set, no kubeconfig asked for) the mounted
ServiceAccount token and CA are used, as ``rest.InClusterConfig`` does in client-go; otherwise
``~/.kube/config``. The ServiceAccount folder can be moved with ``HARNESS_SERVICEACCOUNT_DIR`` (tests do).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import KubernetesError

SERVICEACCOUNT_DIR_ENV = "HARNESS_SERVICEACCOUNT_DIR"
DEFAULT_SERVICEACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")
IN_CLUSTER = "in-cluster"


@dataclass(frozen=True)
class ClusterCredentials:
    """An ``ApiClient`` and the name of what it talks to (the effective context, or "in-cluster")."""

    api_client: Any
    context: str
    default_namespace: str | None


def serviceaccount_dir() -> Path:
    return Path(os.environ.get(SERVICEACCOUNT_DIR_ENV) or DEFAULT_SERVICEACCOUNT_DIR)


def load_credentials(*, context: str | None = None, config_file: str | None = None) -> ClusterCredentials:
    """Credentials by the order in the module docstring; a clear KubernetesError when none work."""
    config_file = config_file or os.environ.get("KUBECONFIG")
    if config_file is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        return _in_cluster()
    return _from_kubeconfig(config_file, context)


def _from_kubeconfig(config_file: str | None, context: str | None) -> ClusterCredentials:
    from kubernetes import config

    path = config_file or os.path.expanduser(config.KUBE_CONFIG_DEFAULT_LOCATION)
    try:
        contexts, active = config.list_kube_config_contexts(config_file=path)
        chosen = context or (active or {}).get("name")
        entry = next((c for c in contexts if c["name"] == chosen), None)
        if entry is None:
            known = ", ".join(c["name"] for c in contexts) or "none"
            raise KubernetesError(f"context {chosen!r} is not in {path} (known: {known})",
                                  hint="pass --context NAME, or fix current-context in the kubeconfig")
        client = config.new_client_from_config(config_file=path, context=chosen)
    except config.ConfigException as exc:
        raise KubernetesError(f"cannot load kubeconfig {path}: {exc}",
                              hint="set KUBECONFIG or pass --kubeconfig/--context; in a pod, use its ServiceAccount"
                              ) from None
    except OSError as exc:
        raise KubernetesError(f"cannot read kubeconfig {path}: {exc.strerror or exc}",
                              hint="set KUBECONFIG or pass --kubeconfig; in a pod, use its ServiceAccount") from None
    namespace = (entry.get("context") or {}).get("namespace")
    return ClusterCredentials(client, str(chosen), namespace)


def _in_cluster() -> ClusterCredentials:
    from kubernetes import client, config
    from kubernetes.config.incluster_config import InClusterConfigLoader

    folder = serviceaccount_dir()
    configuration = client.Configuration()
    try:
        InClusterConfigLoader(token_filename=str(folder / "token"), cert_filename=str(folder / "ca.crt"),
                              try_refresh_token=True).load_and_set(configuration)
    except config.ConfigException as exc:
        raise KubernetesError(f"in-cluster config failed: {exc}",
                              hint=f"the pod needs a ServiceAccount token and CA in {folder} "
                                   "(automountServiceAccountToken: true)") from None
    namespace_file = folder / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.exists() else None
    return ClusterCredentials(client.ApiClient(configuration), IN_CLUSTER, namespace)
