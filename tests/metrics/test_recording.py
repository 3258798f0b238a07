"""The queries a verdict sends are recorded at the client's edge, exactly as they reach Prometheus's HTTP API.

A stub stands in for Prometheus's query API (the one edge that needs no real Prometheus): it keeps
every request's parameters, so the record is compared with what arrived on the wire.
"""

from __future__ import annotations

import http.server
import json
import threading
import urllib.parse
from collections.abc import Iterator

import pytest

from harness.metrics import Prometheus, SentQuery, Window


class _Api(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, dict[str, str]]] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        url = urllib.parse.urlparse(self.path)
        params = {k: v[0] for k, v in urllib.parse.parse_qs(url.query).items()}
        _Api.received.append((url.path, params))
        if url.path.endswith("/query_range"):
            result = [{"metric": {}, "values": [[float(params["start"]), "1"], [float(params["end"]), "2"]]}]
        else:
            result = [{"metric": {"job": "envoy", "instance": "a"}, "values": [[100.0, "1"], [101.0, "3"]]}]
        body = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": result}}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def api() -> Iterator[str]:
    _Api.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_recording_keeps_each_query_as_it_went_over_the_wire(api: str) -> None:
    prom = Prometheus(api)
    with prom.recording() as sent:
        prom.range('sum(rate(istio_requests_total{reporter="source"}[4s]))', 1000.1234, 1060.5, 1.0)
        prom.samples('envoy_cluster_upstream_rq_retry{cluster_name=~"x"}', Window(1010.0, 1020.0), edges="outer",
                     interval_s=1.0)
    prom.instant("up", 1.0)  # outside the block: not recorded
    on_wire = [(path.rsplit("/", 1)[1], params) for path, params in _Api.received]
    assert [(q.api, q.query) for q in sent] == [(path, params["query"]) for path, params in on_wire[:2]]
    (_, ranged), (_, instant) = on_wire[:2]
    assert sent[0] == SentQuery(ranged["query"], start=float(ranged["start"]), end=float(ranged["end"]), step_s=1.0)
    assert ranged["start"] == "1000.123"  # the exact start, not the client library's whole second
    assert sent[1] == SentQuery(instant["query"], time=float(instant["time"]))
    assert instant["query"].endswith("[15s]")  # the range-vector read the counts come from, with its reach
    assert len(sent) == 2


def test_recordings_nest_and_stay_on_their_thread(api: str) -> None:
    prom = Prometheus(api)
    with prom.recording() as outer:
        with prom.recording() as inner:
            prom.instant("up", 5.0)
        other = threading.Thread(target=lambda: prom.instant("down", 6.0))
        other.start()
        other.join()
    assert [q.query for q in inner] == ["up"]
    assert [q.query for q in outer] == ["up"]  # "down" went from another thread: a guardrail's, not this verdict's
