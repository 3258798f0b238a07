"""Loopback ports and tiny HTTP helpers shared by the sandbox and the runner."""

from __future__ import annotations

import contextlib
import json
import socket
import urllib.error
import urllib.request
from typing import Any

LOOPBACK = "127.0.0.1"


def free_ports(count: int) -> list[int]:
    """Reserve ``count`` distinct free TCP ports on loopback (held open together, then released)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((LOOPBACK, 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def http_get(url: str, *, timeout_s: float = 2.0) -> tuple[int, str]:
    """GET ``url``; return status and body text (HTTP errors are returned, not raised)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")


def http_json(url: str, *, method: str = "GET", body: Any = None, timeout_s: float = 2.0) -> Any:
    """Send a JSON request and decode the JSON answer; raises OSError subclasses on failure."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout_s) as response:
        return json.loads(response.read() or b"null")


def is_port_open(port: int, host: str = LOOPBACK) -> bool:
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0
