"""The sandbox's Prometheus: a generated config scraping every Envoy and the Istio telemetry at a set interval."""

from __future__ import annotations

import json
import shutil
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

import yaml

from harness._net import http_get
from harness._process import ChildProcess, start_process, wait_until
from harness.errors import SandboxError
from harness.sandbox._layout import Layout

INSTALL_HINT = (
    "install it with 'apt-get install -y --no-install-recommends prometheus' (Debian/Ubuntu), "
    "or put any Prometheus 2.x binary on PATH; ./setup.sh does this for you"
)


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if not found:
        raise SandboxError("prometheus not found on PATH", hint=INSTALL_HINT)
    return found


def write_config(layout: Layout, root: Path, *, scrape_interval_s: float = 1.0,
                 alerting: Mapping[str, object] | None = None) -> Path:
    """Scrape jobs named as a real mesh's usually are: Envoy stats per pod, and Istio's metrics.

    ``alerting``: rule_files and alerting.alertmanagers (harness/sandbox/_alertmanager.py), when the
    sandbox runs an Alertmanager.
    """
    interval = f"{scrape_interval_s:g}s"
    envoy_targets = [
        {"targets": [f"127.0.0.1:{p.admin_port}"],
         "labels": {"pod": p.name, "namespace": p.namespace, "app": p.app}}
        for p in layout.proxies
    ]
    config = {
        "global": {"scrape_interval": interval, "scrape_timeout": interval, "evaluation_interval": interval},
        "scrape_configs": [
            {"job_name": "envoy-stats", "metrics_path": "/stats/prometheus", "static_configs": envoy_targets},
            {"job_name": "istio-mesh", "metrics_path": "/metrics",
             "static_configs": [{"targets": [f"127.0.0.1:{layout.telemetry_port}"]}]},
        ],
        **(alerting or {}),
    }
    root.mkdir(parents=True, exist_ok=True)
    path = root / "prometheus.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start_prometheus(layout: Layout, root: Path, log_dir: Path, *, scrape_interval_s: float = 15.0) -> ChildProcess:
    config = write_config(layout, root, scrape_interval_s=scrape_interval_s)
    argv = [prometheus_binary(), f"--config.file={config}", f"--storage.tsdb.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{layout.prometheus_port}", "--storage.tsdb.retention.time=1d",
            "--web.enable-lifecycle", "--log.level=warn"]
    return start_process("prometheus", argv, log_path=log_dir / "prometheus.log")


def wait_first_scrape(child: ChildProcess, url: str, expected_targets: int, *, deadline_s: float = 30.0) -> float:
    """Wait until every target has been scraped once (Prometheus applies targets on a ~5 s tick)."""
    def all_up() -> bool:
        query = urllib.parse.urlencode({"query": "sum(up)"})
        status, body = http_get(f"{url}/api/v1/query?{query}", timeout_s=1)
        if status != 200:
            return False
        result = json.loads(body)["data"]["result"]
        return bool(result) and int(float(result[0]["value"][1])) >= expected_targets

    wait_until(lambda: http_get(f"{url}/-/ready", timeout_s=0.5)[0] == 200,
               what="Prometheus to be ready", deadline_s=deadline_s, watch=[child])
    return wait_until(all_up, what="Prometheus's first scrape of every target", deadline_s=deadline_s,
                      watch=[child], interval_s=0.1)
