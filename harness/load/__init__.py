"""Load through the ingress gateway: Locust in a child process, cohorts, full-resolution samples."""

from harness.load._kubernetes import delete_load_objects, leftover_load_objects
from harness.load._run import LoadPlan, LoadRun, check_gateway, resolve_locustfile

__all__ = [
    "LoadPlan", "LoadRun", "check_gateway", "delete_load_objects", "leftover_load_objects", "resolve_locustfile",
]
