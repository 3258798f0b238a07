"""``run_experiment`` on the Kubernetes path without load: the sandbox's API server, the harness's ServiceAccount.

For tests of what a run does to the cluster (locks, policies, faults, revert): load and Prometheus
are left out, the gateway is a stub that only has to answer preflight.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from harness.experiment import load_experiments
from harness.mesh import KubernetesBackend
from harness.report import RunResult
from harness.runner import RunOptions, Target, _Run, run_experiment
from tests.cluster import ApiCluster

# a VirtualService for the in-memory and API-server runs: one named route to one host
REVIEWS_VS: dict[str, Any] = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
                              "metadata": {"name": "reviews", "namespace": "shop"},
                              "spec": {"hosts": ["reviews"], "http": [{"name": "main", "route": [
                                  {"destination": {"host": "reviews"}}]}]}}
POLICIES = Path(__file__).resolve().parents[1] / "experiments" / "sandbox" / "policies"
POLICY_AND_FAULTS = """
apiVersion: harness/v1
kind: Experiment
metadata: {name: policy-and-faults, owner: tests}
target: {namespace: shop}
policies: [policies/productcatalog-no-retries.yaml]
faults:
  - {host: productcatalog, abort: {httpStatus: 503}}
  - {host: cart, delay: {fixedDelay: 1s}}
phases: {baseline: 1s, fault: 1s, recovery: 1s}
"""


def istio_state(server: ApiCluster) -> dict[str, Any]:
    """Every VirtualService and DestinationRule by plural/name: spec and annotations."""
    return {f"{k[0]}/{k[2]}": (o["spec"], o["metadata"].get("annotations")) for k, o in sorted(server.objects.items())}


def without_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_Run, "start_load", lambda self, locustfile, folder: None)


def api_target(server: ApiCluster, gateway: str, folder: Path, *, owner: str = "tests") -> Target:
    """The runner's view of the API server, as the harness's ServiceAccount, as `harness run` builds it."""
    kubeconfig = server.kubeconfig(folder / f"kubeconfig-{owner}", as_harness=True)
    return Target(KubernetesBackend(config_file=str(kubeconfig)), gateway, None, owner=owner,
                  revert_options=f"--backend kubernetes --kubeconfig {kubeconfig}", propagation_deadline_s=0)


def run_on_api(target: Target, folder: Path, text: str = POLICY_AND_FAULTS, said: list[str] | None = None
               ) -> RunResult:
    """Write the experiment (and the policies it names) into ``folder`` and run it."""
    (folder / "policies").mkdir(parents=True, exist_ok=True)
    for policy in POLICIES.glob("*.yaml"):
        shutil.copy(policy, folder / "policies")
    (folder / "exp.yaml").write_text(text)
    (loaded,) = load_experiments([folder / "exp.yaml"])
    result, _ = run_experiment(loaded, target, RunOptions(folder / "reports", (said if said is not None else []).append))
    return result
