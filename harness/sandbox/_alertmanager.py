"""The sandbox's optional Alertmanager, and the Prometheus alerting config that feeds it rules' alerts.

Debian packages Alertmanager as ``prometheus-alertmanager`` (``/usr/bin/prometheus-alertmanager``);
upstream tarballs and most images name it ``alertmanager``. Either is found on PATH. It runs with one
receiver that sends nowhere (the harness asks its API; nobody is paged by a sandbox), without
clustering, and with a short group_wait so its own notifications, if any were configured, are prompt.
"""

from __future__ import annotations

import json
import shutil
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

import yaml

from harness._net import http_get
from harness._process import ChildProcess, start_process, wait_until
from harness._shipped import shipped_dir
from harness.errors import SandboxError
from harness.sandbox._layout import Layout
from harness.sandbox._prometheus import write_config

BINARIES = ("alertmanager", "prometheus-alertmanager")
INSTALL_HINT = ("install it with 'apt-get install -y --no-install-recommends prometheus-alertmanager' (Debian/Ubuntu), "
                "or put an Alertmanager 0.2x binary on PATH as 'alertmanager'; ./setup.sh does this for you")
DEFAULT_RULES = ("prometheus/shop-alerts.rules.yml",)  # under deploy/: the demo shop's example alert rules


def alertmanager_binary() -> str:
    for name in BINARIES:
        found = shutil.which(name)
        if found:
            return found
    raise SandboxError("alertmanager not found on PATH (neither 'alertmanager' nor Debian's 'prometheus-alertmanager')",
                       hint=INSTALL_HINT)


def default_rule_files() -> list[Path]:
    return [shipped_dir("deploy") / name for name in DEFAULT_RULES]


def check_rule_files(paths: Sequence[Path]) -> list[Path]:
    """Rule files that exist and hold Prometheus rule groups; anything else fails before a process starts."""
    checked = []
    for path in paths:
        try:
            data = yaml.safe_load(path.read_text())
        except (OSError, yaml.YAMLError) as exc:
            raise SandboxError(f"cannot read the alert rule file {path}: {exc}") from None
        if not isinstance(data, dict) or not isinstance(data.get("groups"), list):
            raise SandboxError(f"{path} is not a Prometheus rule file (it needs 'groups: [{{name, rules}}]')",
                               hint="see deploy/prometheus/shop-alerts.rules.yml")
        checked.append(path.absolute())
    return checked


def write_alertmanager_config(root: Path, *, group_wait_s: float = 1.0) -> Path:
    config = {
        "route": {"receiver": "nowhere", "group_by": ["alertname"], "group_wait": f"{group_wait_s:g}s",
                  "group_interval": "5s", "repeat_interval": "1h"},
        "receivers": [{"name": "nowhere"}],
    }
    root.mkdir(parents=True, exist_ok=True)
    path = root / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def start_alertmanager(root: Path, port: int, log_dir: Path) -> ChildProcess:
    """Start Alertmanager on loopback ``port``, its state under ``root``."""
    config = write_alertmanager_config(root)
    argv = [alertmanager_binary(), f"--config.file={config}", f"--storage.path={root / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",  # empty: no gossip, no port 9094
            "--log.level=warn"]
    return start_process("alertmanager", argv, log_path=log_dir / "alertmanager.log")


def wait_alertmanager_ready(child: ChildProcess, url: str, *, deadline_s: float = 15.0) -> float:
    return wait_until(lambda: http_get(f"{url}/-/ready", timeout_s=0.5)[0] == 200,
                      what="Alertmanager to be ready", deadline_s=deadline_s, watch=[child], interval_s=0.05)


def alerting_config(alertmanager_port: int, rule_files: Sequence[Path]) -> dict[str, object]:
    """What Prometheus's config gains: where to send alerts, and which rules to evaluate."""
    return {
        "rule_files": [str(p) for p in rule_files],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}]},
    }


def apply_alerting(layout: Layout, root: Path, prometheus_url: str, *, scrape_interval_s: float, alertmanager_port: int,
                   rule_files: Sequence[Path]) -> list[Path]:
    """Copy the rules beside Prometheus's config, reload it, and wait until it evaluates them and knows Alertmanager.

    Prometheus hands new Alertmanager targets to its notifier on the discovery manager's 5 s tick, so
    this waits for that too: an alert that fires before it would not be sent.
    """
    rules_dir = root / "rules"
    shutil.rmtree(rules_dir, ignore_errors=True)
    rules_dir.mkdir(parents=True)
    copies = [rules_dir / f"{index:02d}-{path.name}" for index, path in enumerate(rule_files)]
    for source, copy in zip(rule_files, copies, strict=True):
        shutil.copyfile(source, copy)
    write_config(layout, root, scrape_interval_s=scrape_interval_s, alerting=alerting_config(alertmanager_port, copies))
    _reload(prometheus_url)
    groups = {str(g.get("name")) for path in copies for g in yaml.safe_load(path.read_text())["groups"]}

    def ready() -> bool:
        try:
            rules = json.loads(http_get(f"{prometheus_url}/api/v1/rules", timeout_s=1)[1])["data"]["groups"]
            managers = json.loads(http_get(f"{prometheus_url}/api/v1/alertmanagers", timeout_s=1)[1])["data"]
        except (ValueError, KeyError, TypeError):  # not up yet after the reload
            return False
        active = [m["url"] for m in managers.get("activeAlertmanagers") or []]
        return groups <= {g["name"] for g in rules} and any(f":{alertmanager_port}/" in url for url in active)

    wait_until(ready, what="Prometheus to load the alert rules and find Alertmanager", deadline_s=20, interval_s=0.2)
    return copies


def _reload(prometheus_url: str) -> None:
    request = urllib.request.Request(f"{prometheus_url}/-/reload", method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10):
            pass
    except urllib.error.HTTPError as exc:  # 500 with Prometheus's reason: a rule that does not parse, say
        raise SandboxError(f"Prometheus refused the alerting config: {exc.read().decode('utf-8', 'replace').strip()}",
                           hint="check the rule files with 'promtool check rules FILE'") from None
    except OSError as exc:
        raise SandboxError(f"Prometheus did not take the new config: {exc}") from None
