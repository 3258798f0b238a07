from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import ApiCluster


@pytest.fixture
def apiserver(cluster: ApiCluster) -> Iterator[ApiCluster]:
    """The module's API server, emptied of Istio objects and Leases after each test."""
    yield cluster
    cluster.fail_next(0)
    for plural in ("virtualservices", "destinationrules", "gateways", "leases"):
        for obj in cluster.list(plural):
            meta = obj["metadata"]
            cluster.admin.delete(obj["kind"], meta["namespace"], meta["name"])


@pytest.fixture
def kubeconfig(apiserver: ApiCluster, tmp_path: Path) -> Path:
    return apiserver.kubeconfig(tmp_path / "kubeconfig", "staging")
