"""The per-request record can be switched off for real: no hook, no file, while Locust still loads and reports."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from harness.experiment import Load
from harness.load import LoadPlan, LoadRun, resolve_locustfile


class _Counting(BaseHTTPRequestHandler):
    served = 0

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        type(self).served += 1
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_: object) -> None:
        pass


@pytest.fixture
def target() -> Iterator[tuple[str, type[_Counting]]]:
    handler = type("Handler", (_Counting,), {"served": 0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()


def _run(url: str, tmp_path: Path, *, record: bool) -> LoadRun:
    load = Load.model_validate({"users": 2, "spawnRate": 2, "rate": 40, "requests": [{"path": "/"}]})
    plan = LoadPlan(url, None, "switch", load, resolve_locustfile(load, None), 2, tmp_path / "samples.csv",
                    tmp_path / "locust.log", record=record)
    run = LoadRun(plan).start()
    run.wait_until_sending()  # the status report still works without the record
    assert run.child is not None and run.child.popen is not None
    run.child.popen.wait(30)
    run.stop()
    return run


@pytest.mark.parametrize("record", [True, False])
def test_the_record_switch_decides_whether_requests_are_written(target: tuple[str, type[_Counting]],
                                                               tmp_path: Path, record: bool) -> None:
    url, handler = target
    run = _run(url, tmp_path, record=record)
    assert handler.served > 20, run.output_tail()  # load was sent either way
    if record:
        assert len(run.samples()) == handler.served
    else:
        assert not (tmp_path / "samples.csv").exists()
        assert run.samples().empty
