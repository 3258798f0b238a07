"""Imported inside the Locust child process only (Locust patches the stdlib with gevent).

Profiles subclass ``ChaosHttpUser``: each user joins the tagged cohort (sends ``x-chaos-run``, so
run-scoped faults hit it) or the control cohort, and every request is recorded at full
resolution (float milliseconds, not Locust's rounded statistics) with a client-side failure class
as an Envoy user would see it.
"""

from __future__ import annotations

import contextlib
import csv
import itertools
import json
import os
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from locust import FastHttpUser, LoadTestShape, events

from harness.load._cohort import is_tagged
from harness.load._pacing import Pacer
from harness.load._shape import users_at
from harness.load._status import updated, write_status

RUN_HEADER = "x-chaos-run"
_user_numbers = itertools.count()


def classify(status: int, body: bytes, headers: Any) -> str:
    """Client-side failure class: FI, UT, UH, UO, connection_error, 5xx, 4xx, or ok."""
    if status == 0:
        return "connection_error"
    if status < 400:
        return "ok"
    if headers is not None and headers.get("x-envoy-overloaded"):
        return "UO"
    text = body[:200] if body else b""
    if text.strip() == b"fault filter abort":
        return "FI"
    if status == 504 and b"upstream request timeout" in text:
        return "UT"
    if b"no healthy upstream" in text:
        return "UH"
    return "5xx" if status >= 500 else "4xx"


def _config() -> dict[str, Any]:
    path = os.environ.get("HARNESS_LOAD_CONFIG_FILE")  # worker pods get it from a ConfigMap
    if path:
        with open(path) as handle:
            return dict(json.load(handle))
    return dict(json.loads(os.environ.get("HARNESS_LOAD_CONFIG", "{}")))


class ChaosHttpUser(FastHttpUser):
    """Base for load profiles: cohort membership, the run header, Host header, optional fixed rate."""

    abstract = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        config = _config()
        worker_index, worker_count = _worker_position(self.environment)
        tagged = is_tagged(next(_user_numbers), float(config.get("tagged_share", 0.0)),
                           worker_index=worker_index, worker_count=worker_count)
        self.cohort = "tagged" if tagged else "control"
        headers = dict(config.get("headers", {}))
        if config.get("host_header"):
            headers["Host"] = config["host_header"]
        if self.cohort == "tagged" and config.get("run_id"):
            headers[RUN_HEADER] = config["run_id"]
        self.request_headers = headers
        self.rate_per_user = config.get("rate_per_user")
        # constant throughput: pace each user so the whole crowd sends the target rate, never more. Each user starts
        # at a random point of its interval: users spawned together would otherwise send in step forever, bursts
        # every interval instead of a steady stream (a connection pool then sheds what a steady rate would not)
        self._phase_s = random.uniform(0.0, 1.0 / self.rate_per_user) if self.rate_per_user else 0.0
        self._pacer = (Pacer(1.0 / self.rate_per_user, started_at=time.monotonic() + self._phase_s)
                       if self.rate_per_user else None)

    def on_start(self) -> None:
        """Wait for this user's place in the interval (profiles that define on_start call super().on_start())."""
        if self._phase_s:
            import gevent

            gevent.sleep(self._phase_s)

    def wait_time(self) -> float:  # type: ignore[override]
        return self._pacer.wait_s(time.monotonic()) if self._pacer else 0.0

    def call(self, path: str, *, name: str | None = None, method: str = "GET", headers: dict[str, str] | None = None,
             body: str | None = None) -> None:
        """Send one request, classified and recorded with this user's cohort."""
        all_headers = {**self.request_headers, **(headers or {})}
        with self.client.request(method, path, name=name or path, headers=all_headers, data=body,
                                 catch_response=True, context={"cohort": self.cohort}) as response:
            outcome = classify(response.status_code or 0, response.content or b"", response.headers)
            if outcome != "ok":
                response.failure(outcome)


def _worker_position(environment: Any) -> tuple[int, int]:
    """This process's index among the Locust workers, and how many there are ((0, 1) without workers).

    The master gives each worker its index when it connects, and sends ``--expect-workers`` with
    the spawn message, which arrives before any user is created (Locust 2.47 runners.py).
    """
    from locust.runners import WorkerRunner

    runner = environment.runner
    if not isinstance(runner, WorkerRunner) or runner.worker_index < 0:
        return 0, 1
    return runner.worker_index, max(1, int(getattr(environment.parsed_options, "expect_workers", 1) or 1))


class _Recorder:
    """Records every request event. A local or master process writes them to a CSV file (flushed each
    second); a worker sends them to its master in batches, so distributed runs (worker pods
    included) end up in the master's one file."""

    COLUMNS = ["t", "cohort", "name", "status", "latency_ms", "outcome"]

    def __init__(self, path: str | None) -> None:
        self._file = open(path, "w", newline="", buffering=1 << 16) if path else None  # noqa: SIM115
        self._writer = csv.writer(self._file) if self._file else None
        if self._writer:
            self._writer.writerow(self.COLUMNS)
        self._batch: list[list[str]] = []
        self._lock = threading.Lock()

    def on_request(self, request_type: str, name: str, response_time: float, response_length: int,
                   exception: Exception | None = None, context: dict[str, Any] | None = None,
                   response: Any = None, start_time: float | None = None, **_: Any) -> None:
        status = getattr(response, "status_code", 0) or 0
        outcome = "ok" if exception is None else _outcome_of(exception)
        started = start_time if start_time is not None else time.time() - response_time / 1000
        row = [f"{started:.6f}", (context or {}).get("cohort", "control"), name, str(status),
               f"{response_time:.3f}", outcome]
        with self._lock:
            if self._writer is not None:
                self._writer.writerow(row)
            else:
                self._batch.append(row)

    def write_rows(self, rows: list[list[str]]) -> None:
        with self._lock:
            if self._writer is not None:
                self._writer.writerows(rows)

    def take_batch(self) -> list[list[str]]:
        with self._lock:
            batch, self._batch = self._batch, []
        return batch

    def flush(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file, self._writer = None, None


def _outcome_of(exception: Exception) -> str:
    text = str(exception)
    for known in ("FI", "UT", "UH", "UO", "5xx", "4xx", "connection_error"):
        if text.endswith(known) or text == known:
            return known
    return "connection_error"


class _StatusReporter:
    """Writes what a master (or lone process) says about itself each second: state, users, connected workers."""

    def __init__(self, environment: Any, path: Path) -> None:
        self._environment, self._path = environment, path
        self._record: dict[str, Any] | None = None
        self._stopping = False
        environment.events.test_stopping.add_listener(self._on_stopping)

    def report(self) -> None:
        from locust.runners import MasterRunner

        runner = self._environment.runner
        master = isinstance(runner, MasterRunner)
        # once the master stops the test it sends its workers away itself: those leaving then are not lost
        counting = master and not self._stopping
        self._record = updated(self._record, now=time.time(), state=str(runner.state), users=int(runner.user_count),
                               expected_workers=int(self._environment.parsed_options.expect_workers) if master else 0,
                               connected_workers=runner.worker_count if counting else None)
        with contextlib.suppress(OSError):  # a full disk must not stop the flush loop that calls this
            write_status(self._path, self._record)

    def _on_stopping(self, **_: Any) -> None:
        # Locust stops the test after the time limit, a TERM, or losing its last worker; in the last case the
        # count has dropped already, so this report still records the loss before counting ends
        self.report()
        self._stopping = True


MESSAGE = "harness_samples"


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    from locust.runners import MasterRunner, WorkerRunner

    config = _config()
    # this file may be loaded twice (as -f and imported by a profile): set up once per process
    if getattr(environment, "harness_support", False):
        return
    environment.harness_support = True
    worker = isinstance(environment.runner, WorkerRunner)
    if not config.get("samples_path") and not worker:
        return
    # "record": false leaves no request hook at all (benchmarks measure Locust with and without it)
    recorder = _Recorder(None if worker else config["samples_path"]) if config.get("record", True) else None
    environment.harness_recorder = recorder
    send_batch = _start_recording(environment, recorder, worker=worker, master=isinstance(environment.runner,
                                                                                          MasterRunner))
    parent = int(config.get("parent_pid", 0))
    status_path = None if worker else config.get("status_path")  # workers report to their master instead
    reporter = _StatusReporter(environment, Path(status_path)) if status_path else None

    def flush_and_watch_parent() -> None:
        while True:
            time.sleep(1)
            if send_batch is not None:
                send_batch()
            if recorder is not None:
                recorder.flush()
            if reporter is not None:
                reporter.report()
            if parent and os.getppid() != parent:
                # the harness died: nobody listens to the results, so stop loading the gateway, tell
                # workers to quit, and exit even if the master is still waiting for its workers
                if recorder is not None:
                    recorder.close()
                if environment.runner is not None:
                    environment.runner.quit()
                gevent.sleep(2)
                os._exit(0)

    import gevent

    gevent.spawn(flush_and_watch_parent)


def _start_recording(environment: Any, recorder: _Recorder | None, *, worker: bool,
                     master: bool) -> Callable[..., None] | None:
    """Hook the recorder on every request event; a worker's rows go to its master. Returns the worker's sender."""
    if recorder is None:
        return None
    environment.events.request.add_listener(recorder.on_request)
    if master:
        environment.runner.register_message(MESSAGE, lambda msg, **_: recorder.write_rows(msg.data))
    if not worker:
        return None

    def send_batch(**_: Any) -> None:
        batch = recorder.take_batch()
        if batch:
            environment.runner.send_message(MESSAGE, batch)

    environment.events.test_stop.add_listener(send_batch)
    return send_batch


@events.quitting.add_listener
def _on_quit(environment: Any, **_: Any) -> None:
    recorder = getattr(environment, "harness_recorder", None)
    if recorder is not None:
        recorder.close()


if _config().get("shape", {}).get("kind") in ("steps", "spike"):

    class HarnessShape(LoadTestShape):
        """Steps or a spike, from the experiment's load.shape; stops after the planned duration."""

        def tick(self) -> tuple[int, float] | None:
            config = _config()
            elapsed = self.get_run_time()
            if elapsed >= config["duration_s"]:
                return None
            return users_at(config["shape"], int(config["users"]), elapsed), float(config["spawn_rate"])
