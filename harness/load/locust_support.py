"""Imported inside the Locust child process only (Locust patches the stdlib with gevent).

Profiles subclass ``ChaosHttpUser``: each user joins the tagged cohort (sends ``x-chaos-run``, so
run-scoped faults hit it) or the control cohort, and every request is recorded at full
resolution (float milliseconds, not Locust's rounded statistics) with a client-side failure class
as an Envoy user would see it.
"""

from __future__ import annotations

import csv
import itertools
import json
import os
import threading
import time
from typing import Any

from locust import FastHttpUser, LoadTestShape, events

from harness.load._shape import users_at

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
        number = next(_user_numbers)
        share = float(config.get("tagged_share", 0.0))
        # spread tagged users evenly: user i is tagged when floor((i+1)*share) > floor(i*share)
        self.cohort = "tagged" if int((number + 1) * share) > int(number * share) else "control"
        headers = dict(config.get("headers", {}))
        if config.get("host_header"):
            headers["Host"] = config["host_header"]
        if self.cohort == "tagged" and config.get("run_id"):
            headers[RUN_HEADER] = config["run_id"]
        self.request_headers = headers
        self.rate_per_user = config.get("rate_per_user")

    def wait_time(self) -> float:  # type: ignore[override]
        if self.rate_per_user:
            # constant throughput: pace each user so the whole crowd sends the target rate
            last = getattr(self, "_last_start", None)
            now = time.monotonic()
            self._last_start = now if last is None else last + 1.0 / self.rate_per_user
            return max(0.0, self._last_start - now)
        return 0.0

    def call(self, path: str, *, name: str | None = None, method: str = "GET", headers: dict[str, str] | None = None,
             body: str | None = None) -> None:
        """Send one request, classified and recorded with this user's cohort."""
        all_headers = {**self.request_headers, **(headers or {})}
        with self.client.request(method, path, name=name or path, headers=all_headers, data=body,
                                 catch_response=True, context={"cohort": self.cohort}) as response:
            outcome = classify(response.status_code or 0, response.content or b"", response.headers)
            if outcome != "ok":
                response.failure(outcome)


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


MESSAGE = "harness_samples"


@events.init.add_listener
def _on_init(environment: Any, **_: Any) -> None:
    from locust.runners import MasterRunner, WorkerRunner

    config = _config()
    # this file may be loaded twice (as -f and imported by a profile): one recorder per process
    if getattr(environment, "harness_recorder", None) is not None:
        return
    worker = isinstance(environment.runner, WorkerRunner)
    if not config.get("samples_path") and not worker:
        return
    recorder = environment.harness_recorder = _Recorder(None if worker else config["samples_path"])
    environment.events.request.add_listener(recorder.on_request)
    if isinstance(environment.runner, MasterRunner):
        environment.runner.register_message(MESSAGE, lambda msg, **_: recorder.write_rows(msg.data))
    if worker:
        def send_batch(**_: Any) -> None:
            batch = recorder.take_batch()
            if batch:
                environment.runner.send_message(MESSAGE, batch)

        environment.events.test_stop.add_listener(send_batch)
    parent = int(config.get("parent_pid", 0))

    def flush_and_watch_parent() -> None:
        while True:
            time.sleep(1)
            if worker:
                send_batch()
            recorder.flush()
            if parent and os.getppid() != parent:
                # the harness died: nobody listens to the results, so stop loading the gateway, tell
                # workers to quit, and exit even if the master is still waiting for its workers
                recorder.close()
                if environment.runner is not None:
                    environment.runner.quit()
                gevent.sleep(2)
                os._exit(0)

    import gevent

    gevent.spawn(flush_and_watch_parent)


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
