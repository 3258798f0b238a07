from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cluster import ApiCluster, api_cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiCluster]:
    """One sandbox API server per test module (starting one takes about a second)."""
    with api_cluster(tmp_path_factory.mktemp("api")) as running:
        yield running


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
