"""A run on the Kubernetes path that ``kill -9``s itself right after its Nth request to the API server.

Usage: python -m tests.mesh.fault_point_driver KUBECONFIG EXPERIMENT

For each line ``N`` on stdin it forks a child that goes through the runner's own phases, in
``run_experiment``'s order and without load or Prometheus (Run Lock, policies, Locust worker objects,
faults, revert, worker objects deleted, policies restored, Lock released), and SIGKILLs itself
right after the answer to its Nth API request has arrived (N = 0: never). Counting requests makes
the kill points deterministic and needs no hook in the product code. The child prints
``run RUN_ID`` before its first request, then ``killed N METHOD PATH`` just before it dies, or
``finished TOTAL``; the parent prints ``done`` once the child is gone. Forking after the imports
keeps one point at a fraction of a second.
"""

from __future__ import annotations

import os
import signal
import sys
import urllib.parse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from harness.experiment import load_experiments
from harness.istio import load_istio
from harness.load._kubernetes import WorkerPlan, WorkerPods, render
from harness.load._run import PROFILES_DIR
from harness.mesh import KubernetesBackend, RunLock
from harness.runner import RunOptions, Target, _Run

WORKER_NAMESPACE = "load"


def say(line: str) -> None:
    os.write(1, (line + "\n").encode())  # one write per line: parent and child share the pipe


def count_requests(backend: KubernetesBackend, kill_after: int) -> Callable[[], int]:
    """Make the backend's client die with SIGKILL after its ``kill_after``th request; returns the counter."""
    rest = backend.api_client.rest_client
    send = rest.request
    seen = 0

    def request(method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        nonlocal seen
        answer = send(method, url, *args, **kwargs)
        seen += 1
        if seen == kill_after:
            say(f"killed {seen} {method} {urllib.parse.urlsplit(url).path}")
            os.kill(os.getpid(), signal.SIGKILL)
        return answer

    rest.request = request
    return lambda: seen


def run(kubeconfig: str, experiment: Path, kill_after: int) -> None:
    backend = KubernetesBackend(config_file=kubeconfig)
    requests_made = count_requests(backend, kill_after)
    (loaded,) = load_experiments([experiment])
    exp = loaded.experiment
    target = Target(backend, "http://127.0.0.1:9", None, owner="fault-points", propagation_deadline_s=0)
    run = _Run(loaded, target, RunOptions(experiment.parent))
    say(f"run {run.run_id}")  # what `harness run` prints before it changes anything
    policies = [r.raw for r in load_istio([experiment.parent / p for p in exp.policies]).resources]
    locked = [f.virtual_service or f.host for f in exp.faults] + [p["metadata"]["name"] for p in policies]
    run.lock = RunLock(backend, exp.target.namespace, locked, run_id=run.run_id, owner=target.owner)
    run.lock.acquire()
    run.apply_policies(policies)
    workers = WorkerPods(backend.api_client)  # what LoadRun does for `load.pods`, without the Locust master
    objects = render(WorkerPlan(WORKER_NAMESPACE, run.run_id, 2, "10.0.0.5", 5557, "istio-chaos-harness:test",
                                PROFILES_DIR / "shop.py", {"run_id": run.run_id},
                                (datetime.now(UTC) + timedelta(minutes=10)).isoformat(timespec="seconds")))
    workers.apply(objects)
    run.inject()
    run.revert()
    workers.delete(objects)
    run.restore_policies()
    run.lock.release()
    say(f"finished {requests_made()}")


def main() -> None:
    from kubernetes import client

    for api in ("ApisApi", "AppsV1Api", "CoreV1Api", "CustomObjectsApi"):  # the client imports these lazily, slowly:
        getattr(client, api)                                                # once here, not in every child
    kubeconfig, experiment = sys.argv[1], Path(sys.argv[2])
    for line in sys.stdin:
        child = os.fork()
        if child == 0:
            try:
                run(kubeconfig, experiment, int(line))
            except BaseException as exc:  # noqa: BLE001 - a child must never return into the parent's loop
                say(f"error {type(exc).__name__}: {exc}")
                os._exit(1)
            os._exit(0)
        os.waitpid(child, 0)
        say("done")


if __name__ == "__main__":
    main()
