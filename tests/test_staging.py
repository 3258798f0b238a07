"""The staging templates are valid, and the README's CI snippets run them with commands that are true:
the paths they name exist, the CLI accepts their options, and every ``$VARIABLE`` they use is set."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from harness.cli import app
from harness.experiment import load_experiments
from tests.commandline import parse_harness

ROOT = Path(__file__).resolve().parents[1]
STAGING = ROOT / "experiments" / "staging"
CI_SECTION = "### In CI (a staging stage)"


def ci_snippets() -> list[dict[str, Any]]:
    """The YAML blocks of the README's CI section (GitHub Actions, then GitLab CI), parsed."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index(CI_SECTION):]
    section = section[:section.index("\n## ")]
    return [yaml.safe_load(block) for block in re.findall(r"```yaml\n(.*?)```", section, re.DOTALL)]


def ci_commands() -> list[tuple[str, dict[str, str]]]:
    """Every shell command of the snippets, with the variables its step (or job) sets."""
    commands: list[tuple[str, dict[str, str]]] = []
    for snippet in ci_snippets():
        for job in snippet.values():
            for step in job.get("steps", []):  # GitHub Actions: run + env per step
                if "run" in step:
                    commands.append((step["run"], step.get("env", {})))
            commands.extend((line, job.get("variables", {})) for line in job.get("script", []))  # GitLab CI
    return commands


def test_the_readme_has_a_github_and_a_gitlab_snippet_that_run_the_staging_folder() -> None:
    snippets = ci_snippets()
    assert len(snippets) == 2
    runs = [command for command, _ in ci_commands() if " run " in command and "harness" in command]
    assert len(runs) == 2 and all("experiments/staging/" in command for command in runs)


@pytest.mark.parametrize("command, variables", [pytest.param(c, v, id=f"{i}-{c[:50]}") for i, (c, v)
                                                in enumerate(ci_commands())])
def test_each_ci_command_is_true(command: str, variables: dict[str, str]) -> None:
    argv = shlex.split(command)
    used = set(re.findall(r"\$\{?([A-Z_][A-Z0-9_]*)", command))
    assert used <= set(variables), f"{command!r} uses {used - set(variables)}, which its step does not set"
    program = argv[0]
    if program == "./setup.sh":
        assert (ROOT / "setup.sh").is_file() and all(arg in (ROOT / "setup.sh").read_text() for arg in argv[1:])
        return
    assert program == ".venv/bin/harness", "the snippets use the harness setup.sh installs"
    paths = parse_harness(argv[1:]).get("paths") or []
    assert paths, command
    for path in paths:
        assert (ROOT / path).exists(), f"{command!r} names {path}, which does not exist"
    validated = CliRunner().invoke(app, ["validate", *(str(ROOT / p) for p in paths)])
    assert validated.exit_code == 0, validated.output


def test_staging_templates_are_kubernetes_experiments_that_leave_the_urls_to_the_ci_job() -> None:
    loaded = load_experiments([STAGING])
    assert len(loaded) >= 2
    for item in loaded:
        target = item.experiment.target
        assert target.backend == "kubernetes", item.path
        assert target.gateway_url is None and target.prometheus_url is None, f"{item.path}: set by the CI job"
        assert target.scrape_interval, f"{item.path}: lets `harness validate` check the windows"


def test_the_gameday_configmap_can_hold_the_staging_folder() -> None:
    # `kubectl create configmap --from-file=experiments/staging/` takes the folder's regular files, flat:
    # keys must be valid ConfigMap keys and the whole must stay under a ConfigMap's 1 MiB
    files = [p for p in STAGING.iterdir() if p.is_file()]
    assert all(re.fullmatch(r"[-._a-zA-Z0-9]+", p.name) for p in files)
    assert not [p for p in STAGING.iterdir() if p.is_dir()], "subfolders are not carried by --from-file"
    assert sum(p.stat().st_size for p in files) < 1024 * 1024
