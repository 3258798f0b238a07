"""A real Alertmanager (Debian's prometheus-alertmanager or any 'alertmanager' on PATH), started in about 0.1 s."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from harness._net import free_ports, http_json

needs_alertmanager = pytest.mark.skipif(
    not (shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")),
    reason="alertmanager is not on PATH (apt-get install -y --no-install-recommends prometheus-alertmanager)")


class RunningAlertmanager:
    """An Alertmanager child process and a way to make alerts fire in it, as Prometheus would send them."""

    def __init__(self, url: str, child: Any) -> None:
        self.url = url
        self.child = child

    def fire(self, labels: dict[str, str], *, summary: str = "", for_s: float = 300.0) -> None:
        now = datetime.now(UTC)
        http_json(f"{self.url}/api/v2/alerts", method="POST", body=[{
            "labels": labels, "annotations": {"summary": summary} if summary else {},
            "startsAt": iso(now - timedelta(seconds=1)), "endsAt": iso(now + timedelta(seconds=for_s))}])

    def resolve(self, labels: dict[str, str]) -> None:
        """What Prometheus sends when a rule stops firing: the same alert, ended now."""
        now = datetime.now(UTC)
        http_json(f"{self.url}/api/v2/alerts", method="POST", body=[{
            "labels": labels, "startsAt": iso(now - timedelta(seconds=2)), "endsAt": iso(now - timedelta(seconds=1))}])

    def silence(self, matchers: dict[str, str]) -> str:
        now = datetime.now(UTC)
        answer = http_json(f"{self.url}/api/v2/silences", method="POST", body={
            "matchers": [{"name": k, "value": v, "isRegex": False, "isEqual": True} for k, v in matchers.items()],
            "startsAt": iso(now - timedelta(seconds=1)), "endsAt": iso(now + timedelta(hours=1)),
            "createdBy": "tests", "comment": "known and unrelated"})
        return str(answer["silenceID"])

    def clear(self) -> None:
        """Expire every silence and resolve every alert it holds, so tests start from a quiet Alertmanager."""
        for silence in http_json(f"{self.url}/api/v2/silences") or []:
            if silence["status"]["state"] != "expired":
                http_json(f"{self.url}/api/v2/silence/{silence['id']}", method="DELETE")
        for alert in http_json(f"{self.url}/api/v2/alerts") or []:
            self.resolve(alert["labels"])
        deadline = time.monotonic() + 5
        while http_json(f"{self.url}/api/v2/alerts?active=true&silenced=false&inhibited=false") and \
                time.monotonic() < deadline:
            time.sleep(0.05)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningAlertmanager]:
    if not (shutil.which("alertmanager") or shutil.which("prometheus-alertmanager")):
        pytest.skip("alertmanager is not on PATH (apt-get install -y --no-install-recommends prometheus-alertmanager)")
    from harness.sandbox._alertmanager import start_alertmanager, wait_alertmanager_ready

    root: Path = tmp_path_factory.mktemp("alertmanager")
    port = free_ports(1)[0]
    child = start_alertmanager(root, port, root / "logs")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_alertmanager_ready(child, url)
        yield RunningAlertmanager(url, child)
    finally:
        child.stop()


@pytest.fixture
def quiet(alertmanager: RunningAlertmanager) -> RunningAlertmanager:
    """The module's Alertmanager with no alert firing."""
    alertmanager.clear()
    return alertmanager


@pytest.fixture
def closed_url() -> str:
    """A loopback URL where nothing listens."""
    return f"http://127.0.0.1:{free_ports(1)[0]}"
