"""A real Prometheus serving series written as OpenMetrics: backfilled with promtool, started on a free port."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from harness._net import free_ports, http_get
from harness._process import start_process, wait_until


@contextmanager
def backfilled_prometheus(root: Path, openmetrics: Path) -> Iterator[str]:
    """Prometheus holding ``openmetrics`` (``promtool tsdb create-blocks-from openmetrics``); yields its URL."""
    subprocess.run(["promtool", "tsdb", "create-blocks-from", "openmetrics", str(openmetrics), str(root / "tsdb")],
                   check=True, capture_output=True)
    (port,) = free_ports(1)
    (root / "prometheus.yml").write_text("global: {scrape_interval: 1s}\nscrape_configs: []\n")
    prometheus = start_process("prometheus", [shutil.which("prometheus") or "prometheus",
                                              f"--config.file={root / 'prometheus.yml'}",
                                              f"--storage.tsdb.path={root / 'tsdb'}",
                                              "--storage.tsdb.retention.time=30d",
                                              f"--web.listen-address=127.0.0.1:{port}"],
                               log_path=root / "prometheus.log")
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_get(f"{url}/-/ready")[0] == 200, what="Prometheus", deadline_s=60,
                   watch=[prometheus])
        yield url
    finally:
        prometheus.stop()
