"""A child process that injects and restores faults in a loop, to be killed at random moments.

Usage: python -m tests.mesh.chaos_driver KUBECONFIG RUN_ID
"""

from __future__ import annotations

import sys
import time

from harness.experiment import Fault
from harness.mesh import KubernetesBackend, inject, restore

FAULTS = [
    Fault.model_validate({"host": "reviews", "abort": {"httpStatus": 503, "percentage": 10}}),
    Fault.model_validate({"host": "ratings", "delay": {"fixedDelay": "2s"}, "routes": ["v1"]}),
    Fault.model_validate({"host": "details", "createVirtualService": True,  # no VirtualService: created
                          "abort": {"httpStatus": 500}}),
]


def main() -> None:
    backend = KubernetesBackend(config_file=sys.argv[1])
    run_id = sys.argv[2]
    print("ready", flush=True)
    for _ in range(100):  # bounded
        applied = [inject(backend, f, namespace="shop", run_id=run_id, owner="driver", ttl_s=1) for f in FAULTS]
        time.sleep(0.01)
        for item in reversed(applied):
            restore(backend, item.namespace, item.name, run_id)


if __name__ == "__main__":
    main()
