"""Load through the ingress gateway: Locust in a child process, cohorts, full-resolution samples."""

from harness.load._run import LoadPlan, LoadRun, check_gateway, resolve_locustfile

__all__ = ["LoadPlan", "LoadRun", "check_gateway", "resolve_locustfile"]
