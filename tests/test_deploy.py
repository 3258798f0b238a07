"""The manifests in deploy/ are valid YAML, least-privilege, and call real harness commands."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from harness.cli import app

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def load(name: str) -> list[dict]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def test_role_grants_only_what_the_harness_uses() -> None:
    (role,) = [d for d in load("rbac.yaml") if d["kind"] == "Role"]
    granted = {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]}
    assert ("networking.istio.io", "virtualservices", "update") in granted        # faults
    assert ("networking.istio.io", "destinationrules", "list") in granted         # cleanup lists every kind
    assert ("coordination.k8s.io", "leases", "create") in granted                 # the run lock
    assert ("apps", "deployments", "create") in granted                           # Locust worker pods
    assert not {r for g, r, v in granted if r in ("secrets", "pods") and v not in ("get", "list")}
    assert not [d for d in load("rbac.yaml") if d["kind"].startswith("Cluster")]  # one namespace, nothing wider


def test_cronjobs_run_commands_the_cli_accepts() -> None:
    for name in ("cleanup-cronjob.yaml", "gameday-cronjob.yaml"):
        (job,) = load(name)
        container = job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
        assert job["spec"]["jobTemplate"]["spec"]["template"]["spec"]["serviceAccountName"] == "chaos-harness"
        args = container["args"]
        result = CliRunner().invoke(app, [args[0], "--help"])
        assert result.exit_code == 0
        options = {a for a in args if a.startswith("--")}
        assert all(option in result.output for option in options), (name, options)
