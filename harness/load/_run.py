"""Run Locust in a child process for the whole experiment, and read back its full-resolution record."""

from __future__ import annotations

import json
import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from harness._net import free_ports
from harness._process import ChildProcess, start_process, stop_process, wait_until
from harness._shipped import shipped_dir
from harness.errors import LoadError
from harness.experiment import Load
from harness.istio import parse_duration_s
from harness.load._status import LoadStatus, read_status

if TYPE_CHECKING:
    import pandas as pd

    from harness.load._samples import SampleReader

PROFILES_DIR = shipped_dir("loadprofiles")
SUPPORT_FILE = Path(__file__).with_name("locust_support.py")


@dataclass(frozen=True)
class LoadPlan:
    gateway_url: str
    host_header: str | None
    run_id: str
    load: Load
    locustfile: Path
    duration_s: float
    samples_path: Path
    log_path: Path
    record: bool = True  # False: Locust gets no per-request hook at all and samples() is empty (benchmarks)

    @property
    def status_path(self) -> Path:
        """Where the Locust master (or lone process) reports its state and connected workers each second."""
        return self.samples_path.with_name("load-status.json")


def resolve_locustfile(load: Load, experiment_dir: Path | None) -> Path:
    """A named profile from ``loadprofiles/``, or a locustfile path relative to the experiment file."""
    if load.requests and not load.locustfile:
        return _checked(PROFILES_DIR / "generic.py")
    if load.locustfile:
        path = Path(load.locustfile)
        if not path.is_absolute() and experiment_dir is not None:
            path = experiment_dir / path
    else:
        path = PROFILES_DIR / f"{load.profile}.py"
        if not path.exists():
            known = sorted(p.stem for p in PROFILES_DIR.glob("*.py") if not p.stem.startswith("_"))
            raise LoadError(f"unknown load profile {load.profile!r}", hint=f"known profiles: {', '.join(known)}")
    return _checked(path)


def _checked(path: Path) -> Path:
    if not path.exists():
        raise LoadError(f"locustfile {path} does not exist")
    try:
        compile(path.read_text(encoding="utf-8"), str(path), "exec")
    except SyntaxError as exc:
        raise LoadError(f"locustfile {path}:{exc.lineno}: syntax error: {exc.msg}") from None
    return path


def check_gateway(url: str, host_header: str | None, *, timeout_s: float = 3.0) -> None:
    """Any HTTP answer means the gateway is reachable; connection errors are fatal before injection."""
    request = urllib.request.Request(url, headers={"Host": host_header} if host_header else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s):
            return
    except urllib.error.HTTPError:
        return
    except OSError as exc:
        raise LoadError(f"the gateway {url} is unreachable: {getattr(exc, 'reason', exc)}",
                        hint="check target.gatewayUrl, or start the sandbox with --sandbox") from None


def _shape(load: Load) -> dict[str, object]:
    shape = load.shape
    return {"kind": shape.kind,
            "steps": [{"users": st.users, "duration_s": parse_duration_s(st.duration)} for st in shape.steps],
            "spike_users": shape.spike_users,
            "spike_at_s": parse_duration_s(shape.spike_at) if shape.spike_at else None,
            "spike_s": parse_duration_s(shape.spike_duration) if shape.spike_duration else None}


class LoadRun:
    """Locust (one process, or a local master with N workers) sending load for ``duration_s``, bounded."""

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        self.child: ChildProcess | None = None
        self.workers: list[ChildProcess] = []
        self.started_at: float | None = None
        self._reader: SampleReader | None = None  # follows samples.csv from the first samples() call on

    def start(self) -> LoadRun:
        plan, load = self.plan, self.plan.load
        config = {
            "samples_path": str(plan.samples_path), "status_path": str(plan.status_path), "run_id": plan.run_id,
            "tagged_share": load.tagged_share, "headers": load.headers, "host_header": plan.host_header,
            "parent_pid": os.getpid(),
            "rate_per_user": (load.rate / load.users) if load.rate else None,
            "requests": [r.model_dump() for r in load.requests], "shape": _shape(load), "users": load.users,
            "spawn_rate": load.spawn_rate, "duration_s": plan.duration_s, "record": plan.record,
        }
        env = {"HARNESS_LOAD_CONFIG": json.dumps(config), "PYTHONUNBUFFERED": "1"}
        plan.status_path.unlink(missing_ok=True)  # "running" from an earlier Locust must not start the baseline
        files = f"{SUPPORT_FILE},{plan.locustfile}"
        common = ["--loglevel", "WARNING"]
        argv = [sys.executable, "-m", "locust", "-f", files, "--headless", "--host", plan.gateway_url,
                "-u", str(load.users), "-r", str(load.spawn_rate), "-t", f"{int(plan.duration_s) + 1}s",
                "--stop-timeout", "2", "--only-summary", "--exit-code-on-error", "0", *common]
        if load.workers:
            (port,) = free_ports(1)
            argv += ["--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port),
                     "--expect-workers", str(load.workers), "--csv", str(plan.samples_path.parent / "locust")]
        if load.pods:
            # pods connect from the cluster: the master must listen beyond loopback
            argv += ["--master", "--master-bind-host", "0.0.0.0", "--master-bind-port", str(load.pods.master_port),
                     "--expect-workers", str(load.pods.count), "--csv", str(plan.samples_path.parent / "locust")]
        self.child = start_process("locust", argv, log_path=plan.log_path, env=env)
        if load.pods:
            try:
                self._start_pods(config)
            except BaseException:
                self.stop()  # never leave a master waiting for workers that will not come
                raise
        for index in range(load.workers):
            worker = [sys.executable, "-m", "locust", "-f", files, "--worker", "--master-host", "127.0.0.1",
                      "--master-port", str(port), *common]
            log = plan.log_path.with_name(f"locust-worker-{index}.log")
            self.workers.append(start_process(f"locust-worker-{index}", worker, log_path=log, env=env))
        self.started_at = time.time()
        return self

    def _start_pods(self, config: dict[str, object]) -> None:
        from datetime import UTC, datetime, timedelta

        from harness.load._kubernetes import WorkerPlan, WorkerPods, render
        from harness.mesh import load_credentials

        pods = self.plan.load.pods
        assert pods is not None
        expires = datetime.now(UTC) + timedelta(seconds=self.plan.duration_s + 300)
        plan = WorkerPlan(pods.namespace, self.plan.run_id, pods.count, pods.master_host, pods.master_port, pods.image,
                          self.plan.locustfile, config, expires.isoformat(timespec="seconds"))
        self._pod_objects = render(plan)
        self._pods = WorkerPods(load_credentials(context=pods.context).api_client)  # kubeconfig or in-cluster
        self._pods.apply(self._pod_objects)

    def is_alive(self) -> bool:
        return self.child is not None and self.child.is_alive()

    def wait_until_sending(self) -> float:
        """Block until every user runs (on every expected worker), so the baseline measures the full load."""
        load = self.plan.load
        connecting_s = 300.0 if load.pods else 60.0  # pods may pull their image first
        deadline_s = connecting_s + load.users / load.spawn_rate
        return wait_until(lambda: (status := self.status()) is not None and status.is_sending(),
                          what="Locust to start every user", deadline_s=deadline_s,
                          watch=[self.child] if self.child else [], interval_s=0.2)

    def status(self) -> LoadStatus | None:
        """What Locust last said about itself: its state, users, and connected workers over time."""
        return read_status(self.plan.status_path)

    def stop(self) -> None:
        """Stop Locust (TERM lets it flush the record), workers after their master, then KILL stragglers."""
        for child in ([self.child] if self.child else []) + self.workers:
            stop_process(child.record, timeout_s=8, popen=child.popen)
        if getattr(self, "_pods", None) is not None:
            self._pods.delete(self._pod_objects)  # worker pods stop with their master anyway; tidy up
            self._pods = None

    def samples(self, since: float | None = None) -> pd.DataFrame:
        """Every request (t >= ``since`` with it), sorted by t: t (epoch s), cohort, name, status, latency_ms, outcome.

        Read incrementally: each call parses only what Locust appended since the last one (workers report
        to the master, which writes the one file), and builds a frame of the rows asked for only.
        """
        return self._record().update().frame(since)

    def first_sample_t(self) -> float | None:
        """When the earliest recorded request started (None before any): a tail of the record does not say."""
        return self._record().update().first_t

    def _record(self) -> SampleReader:
        from harness.load._samples import SampleReader

        if self._reader is None:
            self._reader = SampleReader(self.plan.samples_path)
        return self._reader

    def output_tail(self) -> str:
        return self.child.output_tail() if self.child else ""
