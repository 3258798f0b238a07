"""A local HTTP receiver for notification tests: records every request; may answer, fail, or hang."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

HANG_S = 30.0


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    at: float  # time.time() when it arrived


@dataclass
class Receiver:
    """What the server got, in arrival order; ``mode``: "ok", "fail" (HTTP 500) or "hang" (answers after 30 s)."""

    url: str
    mode: str = "ok"
    got: list[Received] = field(default_factory=list)
    released: threading.Event = field(default_factory=threading.Event)  # ends a hang early at teardown

    def bodies(self, path_prefix: str = "") -> list[Any]:
        return [r.body for r in self.got if r.path.startswith(path_prefix)]

    def wait_for(self, count: int, timeout_s: float = 5.0) -> list[Received]:
        deadline = time.monotonic() + timeout_s
        while len(self.got) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return list(self.got)


@contextlib.contextmanager
def receiver(mode: str = "ok") -> Iterator[Receiver]:
    """A ThreadingHTTPServer on a free loopback port, stopped afterwards (a hanging handler is released first)."""
    state: Receiver

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            state.got.append(Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                                      json.loads(raw) if raw else None, time.time()))
            if state.mode == "hang":
                state.released.wait(HANG_S)
            status = 500 if state.mode == "fail" else 200
            answer = json.dumps({"id": len(state.got), "message": "Annotation added"}).encode()
            with contextlib.suppress(OSError):  # the client gave up on a hanging answer long ago
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        do_POST = do_PATCH = do_PUT = _record

        def log_message(self, format: str, *args: Any) -> None:  # keep pytest's output clean
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = Receiver(f"http://127.0.0.1:{server.server_address[1]}", mode)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        state.released.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def dead_url() -> str:
    """A loopback URL nothing listens on (a port just closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"
