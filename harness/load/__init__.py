"""Load through the ingress gateway: Locust in a child process, cohorts, full-resolution samples, load health."""

from harness.load._health import LoadHealth, check_load_health, cohorts_used
from harness.load._kubernetes import delete_load_objects, leftover_load_objects
from harness.load._progress import IntervalLoad, last_complete_interval, progress_line
from harness.load._run import LoadPlan, LoadRun, check_gateway, resolve_locustfile
from harness.load._status import LoadStatus

__all__ = [
    "IntervalLoad", "LoadHealth", "LoadPlan", "LoadRun", "LoadStatus", "check_gateway", "check_load_health",
    "cohorts_used", "delete_load_objects", "last_complete_interval", "leftover_load_objects", "progress_line",
    "resolve_locustfile",
]
