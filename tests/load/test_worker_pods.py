"""deploy/locust renders per run and applies through the kubernetes client to the sandbox's API server."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from harness.load._kubernetes import WorkerPlan, WorkerPods, render
from harness.load._run import PROFILES_DIR
from tests.cluster import api_cluster


def plan(workers: int = 3) -> WorkerPlan:
    return WorkerPlan(namespace="load", run_id="ab12cd34", workers=workers, master_host="10.0.0.5",
                      master_port=5557, image="istio-chaos-harness:0.1.0", locustfile=PROFILES_DIR / "shop.py",
                      load_config={"run_id": "ab12cd34", "tagged_share": 0.5, "samples_path": "/tmp/x", "parent_pid": 42})


def test_render_fills_every_placeholder() -> None:
    objects = render(plan())
    assert [o["kind"] for o in objects] == ["ConfigMap", "Service", "Deployment"]
    configmap, service, deployment = objects
    assert "class ShopUser" in configmap["data"]["locustfile.py"]
    config = json.loads(configmap["data"]["load-config.json"])
    assert config["parent_pid"] == 0 and config["samples_path"] is None and config["run_id"] == "ab12cd34"
    assert service["spec"]["ports"][0]["port"] == 5557
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    container = spec["template"]["spec"]["containers"][0]
    assert container["args"][-4:] == ["--master-host", "10.0.0.5", "--master-port", "5557"]
    assert deployment["metadata"]["labels"]["chaos.harness.io/run-id"] == "ab12cd34"
    assert "${" not in yaml.safe_dump(objects)


def test_apply_twice_and_delete_against_the_api_server(tmp_path: Path) -> None:
    from kubernetes import config

    with api_cluster(tmp_path / "api") as server:
        kubeconfig = server.kubeconfig(tmp_path / "kubeconfig")
        pods = WorkerPods(config.new_client_from_config(config_file=str(kubeconfig)))
        pods.apply(render(plan(2)))
        pods.apply(render(plan(5)))  # scaling the same run's workers replaces in place
        deployment = server.get("load", "chaos-load-ab12cd34-worker", "deployments")
        assert deployment is not None and deployment["spec"]["replicas"] == 5
        pods.delete(render(plan(5)))
        assert server.get("load", "chaos-load-ab12cd34-worker", "deployments") is None
        assert server.get("load", "chaos-load-ab12cd34-master", "services") is None


def test_a_run_with_worker_pods_applies_them_and_deletes_them_at_stop(tmp_path: Path,
                                                                       monkeypatch: object) -> None:
    from harness.experiment import Load
    from harness.load import LoadPlan, LoadRun, resolve_locustfile

    with api_cluster(tmp_path / "api") as server:
        kubeconfig = server.kubeconfig(tmp_path / "kubeconfig")
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))  # type: ignore[attr-defined]
        from harness._net import free_ports

        (port,) = free_ports(1)
        load = Load.model_validate({"users": 2, "pods": {"namespace": "load", "count": 2, "masterHost": "10.0.0.5",
                                                         "masterPort": port}})
        plan_ = LoadPlan("http://127.0.0.1:9", None, "ff00ff00", load, resolve_locustfile(load, None), 30,
                         tmp_path / "samples.csv", tmp_path / "locust.log")
        run = LoadRun(plan_).start()
        try:
            deployment = server.get("load", "chaos-load-ff00ff00-worker", "deployments")
            assert deployment is not None and deployment["spec"]["replicas"] == 2
        finally:
            run.stop()
        assert server.get("load", "chaos-load-ff00ff00-worker", "deployments") is None
        assert not run.is_alive()


def test_workers_of_a_killed_run_go_with_cleanup_once_expired_and_a_live_run_keeps_its_own(tmp_path: Path) -> None:
    """After kill -9 nothing deletes the worker Deployment; its expires-at annotation lets `harness cleanup` do it."""
    from dataclasses import replace

    from kubernetes import config
    from typer.testing import CliRunner

    from harness.cli import app

    with api_cluster(tmp_path / "api") as server:
        kubeconfig = server.kubeconfig(tmp_path / "kubeconfig")
        pods = WorkerPods(config.new_client_from_config(config_file=str(kubeconfig)))
        dead = replace(plan(2), run_id="dead0001", expires_at="2020-01-01T00:00:00+00:00")
        live = replace(plan(2), run_id="live0002", expires_at="2999-01-01T00:00:00+00:00")
        pods.apply(render(dead))
        pods.apply(render(live))

        def left(run_id: str) -> list[str]:
            """Kinds of the run's load objects still in the API."""
            return [kind for plural, kind in (("deployments", "Deployment"), ("services", "Service"),
                                              ("configmaps", "ConfigMap"))
                    if any((o["metadata"].get("labels") or {}).get("chaos.harness.io/run-id") == run_id
                           for o in server.list(plural, "load"))]

        args = ["cleanup", "--backend", "kubernetes", "--kubeconfig", str(kubeconfig)]
        first = CliRunner().invoke(app, args)
        assert first.exit_code == 0, first.output
        assert left("dead0001") == [] and left("live0002") == ["Deployment", "Service", "ConfigMap"]
        named = CliRunner().invoke(app, [*args, "--run", "live0002"])
        assert named.exit_code == 0, named.output
        assert left("live0002") == []
