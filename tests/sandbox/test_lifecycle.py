"""`harness sandbox up/status/down` as a user runs them: detached, findable, stoppable, parallel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness._process import ProcessRecord, is_running
from tests.conftest import Client, needs_prometheus

pytestmark = [pytest.mark.sandbox, needs_prometheus]


def harness(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})


def records(state_dir: Path) -> list[ProcessRecord]:
    state = json.loads((state_dir / "state.json").read_text())
    return [ProcessRecord.from_dict(p) for p in state["processes"]]


def test_two_sandboxes_run_side_by_side_and_stop_from_another_process(tmp_path: Path) -> None:
    dirs = [tmp_path / "a", tmp_path / "b"]
    urls: list[dict[str, Any]] = []
    try:
        for state_dir in dirs:
            result = harness("sandbox", "up", "--state-dir", str(state_dir), "--scrape-interval", "1", "--json")
            assert result.returncode == 0, result.stderr
            urls.append(json.loads(result.stdout))
        assert set(urls[0]) == {"gateway_url", "prometheus_url", "admin_url", "kubeconfig", "api_url", "state_dir"}
        assert urls[0]["gateway_url"] != urls[1]["gateway_url"]
        for info in urls:
            assert Client(info["gateway_url"]).get("/").status == 200
        status = harness("sandbox", "status", "--state-dir", str(dirs[0]), "--json")
        assert status.returncode == 0
        assert json.loads(status.stdout)["running"] is True
    finally:
        for state_dir in dirs:
            if (state_dir / "state.json").exists():
                pids = records(state_dir)
                assert harness("sandbox", "down", "--state-dir", str(state_dir)).returncode == 0
                assert not any(is_running(p) for p in pids)
    gone = harness("sandbox", "status", "--state-dir", str(dirs[0]))
    assert gone.returncode == 1
    assert "no sandbox runs" in gone.stdout


def test_second_up_in_the_same_state_dir_refuses(sandbox: Any) -> None:
    result = harness("sandbox", "up", "--state-dir", str(sandbox.state_dir))
    assert result.returncode == 2
    assert "already runs" in result.stderr


def test_bad_topology_names_file_line_and_field_and_starts_nothing(tmp_path: Path) -> None:
    topology = tmp_path / "topology.yaml"
    topology.write_text("apiVersion: harness/v1\nkind: Topology\nservices:\n  - name: web\n    replicas: 3\n")
    result = harness("sandbox", "up", "--topology", str(topology), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 2
    assert f"{topology}:5:5: services[0].replicas: unknown field" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "s" / "state.json").exists()


def test_bad_istio_yaml_names_file_line_and_field_and_starts_nothing(tmp_path: Path) -> None:
    mesh = tmp_path / "vs.yaml"
    mesh.write_text(
        "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {name: x, namespace: shop}\n"
        "spec:\n  hosts: [cart]\n  http:\n    - route: [{destination: {host: cart}}]\n      timeout: soon\n")
    result = harness("sandbox", "up", "--mesh", str(mesh), "--state-dir", str(tmp_path / "s"))
    assert result.returncode == 2
    assert f"{mesh}:8:7: spec.http[0].timeout" in result.stderr
    assert "invalid duration" in result.stderr
    assert not (tmp_path / "s" / "state.json").exists()


def test_missing_prometheus_says_how_to_install_it(tmp_path: Path) -> None:
    env = {"PATH": str(Path(sys.executable).parent)}  # python only: no prometheus
    result = harness("sandbox", "up", "--state-dir", str(tmp_path / "s"), env=env)
    assert result.returncode == 2
    assert "prometheus not found on PATH" in result.stderr
    assert "apt-get install -y --no-install-recommends prometheus" in result.stderr
