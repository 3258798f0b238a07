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


RETRIES_EXAMPLE = ROOT / "experiments" / "sandbox" / "04-retries-mask-flaky-replica.yaml"


@pytest.mark.slow
def test_at_15_s_scrapes_a_long_enough_fault_gives_the_1_s_verdict_and_a_short_one_is_refused(
        slow_push_sandbox: Any, tmp_path: Path) -> None:
    from harness.errors import HarnessError
    from harness.suite import run_suite, sandbox_target

    before = istio_specs(slow_push_sandbox)
    text = RETRIES_EXAMPLE.read_text()
    # the example's 15 s fault phase with only its mesh hypothesis: nothing could be judged, so nothing is broken
    mesh_only = tmp_path / "short" / "retries.yaml"
    mesh_only.parent.mkdir()
    mesh_only.write_text(text.split("  - name: shoppers see no errors")[0] + "  - name: the frontend's sidecar retried"
                         + text.split("  - name: the frontend's sidecar retried")[1])
    longer = tmp_path / "long" / "retries.yaml"
    longer.parent.mkdir()
    longer.write_text(text.replace("phases: {baseline: 8s, fault: 15s, recovery: 8s}",
                                   "phases: {baseline: 4s, fault: 64s, recovery: 3s}"))
    lines: list[str] = []
    with sandbox_target(slow_push_sandbox.state_dir, start=False, progress=lines.append) as target:
        assert target.scrape_interval_s == 15
        with pytest.raises(HarnessError) as refused:  # a preflight error, as a misspelt host is (exit 2)
            run_suite([mesh_only], target, report_root=tmp_path / "r", progress=lines.append)
        assert refused.value.message.endswith(
            "no hypothesis can be judged at Prometheus's 15 s scrape interval (phase too short: fault: 15s gives 1 "
            "scrape at 15 s; at least 60s needed); nothing was injected")
        assert istio_specs(slow_push_sandbox) == before
        (long, _), = run_suite([longer], target, report_root=tmp_path / "r", progress=lines.append).runs
    assert [v.outcome.value for v in long.verdicts] == ["PASS", "PASS"], [v.reason for v in long.verdicts]
    details = {v.name: v for v in long.verdicts}["the frontend's sidecar retried"].details
    assert details["scrape_interval_s"] == 15
    assert any("Prometheus scrapes every 15 s" in line for line in lines)


def test_a_fault_on_a_misspelt_host_is_refused_at_preflight_and_nothing_changes(demo: Any, tmp_path: Path) -> None:
    before = istio_specs(demo)
    exp = tmp_path / "typo.yaml"
    exp.write_text(RETRIES_EXAMPLE.read_text().split("failures:")[0]
                   + "faults: [{host: productcatalg, abort: {httpStatus: 503}}]\nphases: {baseline: 2s, fault: 4s}\n"
                   + "hypotheses: [{name: e, measure: error_rate, below: 0.5}]\n")
    ran = harness("run", str(exp), "--state-dir", str(demo.state_dir), "--report-dir", str(tmp_path / "r"))
    assert ran.returncode == 2, ran.stderr
    assert "no VirtualService in namespace shop routes productcatalg.shop.svc.cluster.local" in ran.stderr
    assert "productcatalog (hosts: productcatalog)" in ran.stderr and "Traceback" not in ran.stderr
    assert istio_specs(demo) == before


@pytest.mark.slow
def test_a_fault_off_the_loads_path_is_never_observed_inconclusive_and_reverted(demo: Any, tmp_path: Path) -> None:
    from harness.suite import run_suite
    from tests.conftest import sandbox_target as target_of

    before = istio_specs(demo)
    exp = tmp_path / "off-path.yaml"
    # the load only asks for /cart; the fault is on productcatalog, which /cart never calls
    exp.write_text("""
apiVersion: harness/v1
kind: Experiment
metadata: {name: off-path, owner: tests}
target: {namespace: shop}
faults: [{host: productcatalog, abort: {httpStatus: 503}}]
phases: {baseline: 3s, fault: 30s, recovery: 2s}
load: {users: 4, rate: 20, taggedShare: 0.5, requests: [{path: /cart}]}
hypotheses:
  - {name: shoppers see errors, measure: error_rate, cohort: tagged, above: 0.5}
  - {name: no errors, measure: error_rate, source: mesh, service: cart, below: 0.5}
""")
    started = time.monotonic()
    suite = run_suite([exp], target_of(demo), report_root=tmp_path / "r", progress=lambda _: None)
    ((result, _),) = suite.runs
    assert time.monotonic() - started < 30  # reverted at the evidence deadline, not after the whole fault phase
    assert {v.outcome.value for v in result.verdicts} == {"INCONCLUSIVE"}
    assert all(v.reason.startswith("fault never observed in the data plane") for v in result.verdicts)
    assert "likely causes" in result.verdicts[0].reason
    assert istio_specs(demo) == before
