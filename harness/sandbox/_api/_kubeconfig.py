"""A kubeconfig for the sandbox cluster: one cluster entry, a user and a context per token."""

from __future__ import annotations

import os
from pathlib import Path

import yaml

CLUSTER = "sandbox"


def write_kubeconfig(path: Path, *, server: str, ca_cert: Path, contexts: dict[str, tuple[str, str]],
                     current: str) -> Path:
    """Write ``path`` (mode 0600: it holds tokens); ``contexts`` maps a name to (token, namespace)."""
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {}, "current-context": current,
        "clusters": [{"name": CLUSTER, "cluster": {"server": server, "certificate-authority": str(ca_cert)}}],
        "users": [{"name": name, "user": {"token": token}} for name, (token, _) in contexts.items()],
        "contexts": [{"name": name, "context": {"cluster": CLUSTER, "user": name, "namespace": namespace}}
                     for name, (_, namespace) in contexts.items()],
    }
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        yaml.safe_dump(config, handle, sort_keys=False)
    return path
