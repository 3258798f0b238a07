"""The path users take on a cluster, end to end on the sandbox cluster: kubectl, istiod's push delay,
RBAC at preflight, in-cluster credentials, pod restarts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import Client, envoy_stats, needs_prometheus

pytestmark = [needs_prometheus, pytest.mark.sandbox]
ROOT = Path(__file__).resolve().parents[1]


def harness(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it; ``env`` entries replace the environment's (an empty value removes one)."""
    merged = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "harness.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={k: v for k, v in merged.items() if v})


def kubectl(kubeconfig: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", str(kubeconfig), *args], capture_output=True, text=True,
                          timeout=60, input=stdin)


def istio_specs(sandbox: Any) -> dict[str, Any]:
    return {f"{o['kind']}/{o['metadata']['name']}": (o["spec"], o["metadata"].get("annotations"))
            for o in sandbox.istio.list()}


@pytest.fixture(scope="module")
def slow_push_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A sandbox as a cluster behaves by default: 15 s scrapes, istiod pushing 2 s after a change."""
    from harness.sandbox import Sandbox

    with Sandbox.start(state_dir=tmp_path_factory.mktemp("cluster"), push_delay_s=2.0) as running:
        yield running


def test_kubectl_lists_the_demo_objects_and_an_apply_reaches_the_envoys_after_the_push_delay(
        slow_push_sandbox: Any) -> None:
    sandbox = slow_push_sandbox
    found = harness("sandbox", "kubeconfig", "--state-dir", str(sandbox.state_dir))
    kubeconfig = Path(found.stdout.strip())
    listed = kubectl(kubeconfig, "get", "virtualservices", "-A")
    assert listed.returncode == 0, listed.stderr
    for name in ("frontend-ingress", "productcatalog", "cart", "recommendation"):
        assert name in listed.stdout
    ingress = json.loads(kubectl(kubeconfig, "get", "vs", "frontend-ingress", "-n", "shop", "-o", "json").stdout)
    ingress.pop("status")  # as a user's manifest: no server-set fields (a resourceVersion would be a precondition)
    ingress["metadata"] = {k: ingress["metadata"][k] for k in ("name", "namespace")}
    ingress["spec"]["http"][0]["fault"] = {"abort": {"httpStatus": 418, "percentage": {"value": 100}}}
    client = Client(sandbox.gateway_url)
    assert client.get("/").status == 200
    applied = kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(ingress))
    assert applied.returncode == 0, applied.stderr
    written = time.monotonic()
    statuses = []
    while time.monotonic() - written < 15:
        statuses.append((time.monotonic() - written, client.get("/").status))
        if statuses[-1][1] == 418:
            break
        time.sleep(0.1)
    first_418 = next((t for t, status in statuses if status == 418), None)
    assert first_418 is not None, "the change never reached the gateway"
    assert first_418 >= 1.8, f"served after {first_418:.2f}s, before istiod's 2 s push delay"
    status = json.loads(kubectl(kubeconfig, "get", "vs", "frontend-ingress", "-n", "shop", "-o", "json").stdout)
    assert status["status"]["conditions"][0]["message"].endswith("proxies up to date.")
    del ingress["spec"]["http"][0]["fault"]
    assert kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(ingress)).returncode == 0
    deadline = time.monotonic() + 15
    while client.get("/").status != 200 and time.monotonic() < deadline:  # the revert rides the same push delay
        time.sleep(0.1)
    assert client.get("/").status == 200


def test_restarting_a_pod_restarts_its_envoy_and_resets_its_counters(slow_push_sandbox: Any) -> None:
    sandbox = slow_push_sandbox
    pod = next(p for p in sandbox.control.pods() if p.proxy == "frontend-v1")
    client = Client(sandbox.gateway_url)
    for _ in range(20):
        client.get("/")
    admin = sandbox.admin_url_of("frontend-v1")
    before = sum(envoy_stats(admin, r"cluster\.outbound.*upstream_rq_total$").values())
    assert before >= 20
    restarted = harness("sandbox", "restart", pod.name, "--state-dir", str(sandbox.state_dir))
    assert restarted.returncode == 0, restarted.stderr
    assert "restarts: 1" in restarted.stdout
    assert sum(envoy_stats(admin, r"cluster\.outbound.*upstream_rq_total$").values()) < before
    assert client.get("/").status == 200  # and it serves the config istiod pushed
    shown = json.loads(kubectl(sandbox.kubeconfig_path, "get", "pod", pod.name, "-n", "shop", "-o", "json").stdout)
    assert {c["restartCount"] for c in shown["status"]["containerStatuses"]} == {1}


def test_preflight_names_a_missing_permission_and_changes_nothing(demo: Any, tmp_path: Path) -> None:
    sandbox = demo
    admin = sandbox.istio.api
    role = admin.get("Role", "shop", "chaos-harness")
    original_rules = role["rules"]
    trimmed = [{**rule, "resources": [r for r in rule["resources"] if r != "destinationrules"]}
               for rule in original_rules]
    admin.replace({**role, "rules": trimmed})
    before = istio_specs(sandbox)
    try:
        run = harness("run", str(ROOT / "experiments/sandbox/05-retries-off-FAILS.yaml"), "--state-dir",
                      str(sandbox.state_dir), "--report-dir", str(tmp_path / "reports"))
    finally:
        current = admin.get("Role", "shop", "chaos-harness")
        admin.replace({**current, "rules": original_rules})
    assert run.returncode == 2, run.stdout + run.stderr
    assert "destinationrules.networking.istio.io in namespace shop" in run.stderr
    assert "nothing was changed" in run.stderr
    assert istio_specs(sandbox) == before


@pytest.mark.slow
def test_in_cluster_credentials_run_an_experiment(demo: Any, tmp_path: Path) -> None:
    """As the game-day CronJob runs: no kubeconfig, the pod's ServiceAccount token and CA, KUBERNETES_SERVICE_*."""
    sandbox = demo
    config = yaml.safe_load(sandbox.kubeconfig_path.read_text())
    token = next(u["user"]["token"] for u in config["users"] if u["name"] == sandbox.harness_context)
    server = config["clusters"][0]["cluster"]
    account = tmp_path / "serviceaccount"
    account.mkdir()
    (account / "token").write_text(token)
    (account / "ca.crt").write_text(Path(server["certificate-authority"]).read_text())
    (account / "namespace").write_text("shop")
    experiment = yaml.safe_load((ROOT / "experiments/sandbox/01-run-scoped-abort.yaml").read_text())
    experiment["target"] = {"namespace": "shop", "backend": "kubernetes", "gatewayUrl": sandbox.gateway_url,
                            "prometheusUrl": sandbox.prometheus_url}
    experiment["phases"] = {"baseline": "6s", "fault": "10s", "recovery": "6s"}
    path = tmp_path / "in-cluster.yaml"
    path.write_text(yaml.safe_dump(experiment))
    host, port = server["server"].removeprefix("https://").rsplit(":", 1)
    env = {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port,
           "HARNESS_SERVICEACCOUNT_DIR": str(account), "KUBECONFIG": ""}  # in a pod there is no kubeconfig
    run = harness("run", str(path), "--report-dir", str(tmp_path / "reports"), env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    journal = json.loads(next((tmp_path / "reports").glob("*/journal.json")).read_text())
    assert [v["outcome"] for v in journal["verdicts"]] == ["PASS", "PASS", "PASS"]
    assert istio_specs(sandbox)["VirtualService/productcatalog"][1] in (None, {})  # no marks left
