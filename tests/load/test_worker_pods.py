"""deploy/locust renders per run and applies through the kubernetes client to the fake API server."""

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
