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

from harness._process import ChildProcess, start_process, stop_process
from harness.errors import LoadError
from harness.experiment import Load

if TYPE_CHECKING:
    import pandas as pd

PROFILES_DIR = Path(__file__).resolve().parents[2] / "loadprofiles"
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


def resolve_locustfile(load: Load, experiment_dir: Path | None) -> Path:
    """A named profile from ``loadprofiles/``, or a locustfile path relative to the experiment file."""
    if load.locustfile:
        path = Path(load.locustfile)
        if not path.is_absolute() and experiment_dir is not None:
            path = experiment_dir / path
    else:
        path = PROFILES_DIR / f"{load.profile}.py"
        if not path.exists():
            known = sorted(p.stem for p in PROFILES_DIR.glob("*.py") if not p.stem.startswith("_"))
            raise LoadError(f"unknown load profile {load.profile!r}", hint=f"known profiles: {', '.join(known)}")
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


class LoadRun:
    """A Locust process sending load for ``duration_s`` (bounded), stoppable at any time."""

    def __init__(self, plan: LoadPlan) -> None:
        self.plan = plan
        self.child: ChildProcess | None = None
        self.started_at: float | None = None

    def start(self) -> LoadRun:
        plan, load = self.plan, self.plan.load
        config = {
            "samples_path": str(plan.samples_path), "run_id": plan.run_id, "tagged_share": load.tagged_share,
            "headers": load.headers, "host_header": plan.host_header, "parent_pid": os.getpid(),
            "rate_per_user": (load.rate / load.users) if load.rate else None,
        }
        argv = [sys.executable, "-m", "locust", "-f", f"{SUPPORT_FILE},{plan.locustfile}", "--headless",
                "--host", plan.gateway_url, "-u", str(load.users), "-r", str(load.spawn_rate),
                "-t", f"{int(plan.duration_s) + 1}s", "--stop-timeout", "2", "--only-summary",
                "--exit-code-on-error", "0", "--loglevel", "WARNING"]
        env = {"HARNESS_LOAD_CONFIG": json.dumps(config), "PYTHONUNBUFFERED": "1"}
        self.child = start_process("locust", argv, log_path=plan.log_path, env=env)
        self.started_at = time.time()
        return self

    def is_alive(self) -> bool:
        return self.child is not None and self.child.is_alive()

    def stop(self) -> None:
        """Stop Locust (TERM lets it flush the record), then KILL if it lingers."""
        if self.child is not None:
            stop_process(self.child.record, timeout_s=8, popen=self.child.popen)

    def samples(self) -> pd.DataFrame:
        """Every request: t (epoch s), cohort, name, status, latency_ms, outcome."""
        import pandas as pd

        try:
            return pd.read_csv(self.plan.samples_path, dtype={"cohort": str, "name": str, "outcome": str})
        except (FileNotFoundError, pd.errors.EmptyDataError):
            return pd.DataFrame(columns=["t", "cohort", "name", "status", "latency_ms", "outcome"])

    def output_tail(self) -> str:
        return self.child.output_tail() if self.child else ""
