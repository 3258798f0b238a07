"""Lint against a cluster (the sandbox's API server alone, holding the demo shop's Istio objects): the live objects
are read with the harness's namespaced credentials, and the call graph is assumed and said to be."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from harness.cli import app
from tests.cluster import ApiCluster
from tests.lint.conftest import EXAMPLES


def test_a_cluster_without_a_sandbox_topology(shop_api: ApiCluster, tmp_path: Path) -> None:
    kubeconfig = shop_api.kubeconfig(tmp_path / "config", context="staging", as_harness=True)
    result = CliRunner().invoke(app, ["lint", str(EXAMPLES / "03-same-route-timeout-FAILS.yaml"), "--json",
                                      "--backend", "kubernetes", "--kubeconfig", str(kubeconfig)])
    assert result.exit_code == 1, result.output
    (item,) = json.loads(result.output)["experiments"]
    assert item["mesh"] == "cluster context staging"
    assert [f["code"] for f in item["findings"] if f["severity"] == "error"] == ["HL101"]
    # no pods were deployed in this API server: the fault's sourceLabels select nobody, and lint says so
    assert [f["code"] for f in item["findings"] if f["severity"] == "warning"] == ["HL305"]
    assert any("call graph is not known outside the sandbox" in note for note in item["notes"])
    # deploy/rbac.yaml grants a get of its own Namespace: the labels (ambient or not) are read, not guessed
    assert not any("labels of namespace" in note for note in item["notes"]), item["notes"]
