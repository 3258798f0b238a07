"""deploy/ works: least-privilege manifests that a real API server accepts, CronJobs whose commands the CLI
accepts, an image built from a wheel that carries what the code reads, and a game day that keeps history."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.cluster import ApiCluster
from tests.commandline import parse_harness
from tests.conftest import needs_prometheus
from tests.image import InstalledImage, copy_sources, dockerfile_instructions, install_image

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
MANIFESTS = sorted(p.name for p in DEPLOY.glob("*.yaml"))
needs_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not on PATH")


def load(name: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all((DEPLOY / name).read_text()) if d]


def pod_spec(name: str) -> dict[str, Any]:
    (job,) = load(name)
    return dict(job["spec"]["jobTemplate"]["spec"]["template"]["spec"])


def entrypoint() -> list[str]:
    (arguments,) = [a for keyword, a in dockerfile_instructions() if keyword == "ENTRYPOINT"]
    return list(json.loads(arguments))


def container_argv(container: dict[str, Any]) -> list[str]:
    """What the container runs: its command (or the image's ENTRYPOINT) followed by its args."""
    return [*(container.get("command") or entrypoint()), *container.get("args", [])]


def harness_lines(container: dict[str, Any]) -> list[list[str]]:
    """The ``harness`` command lines a container runs, directly or as lines of its shell script."""
    argv = container_argv(container)
    if argv[:2] == ["/bin/sh", "-c"]:
        lines = [shlex.split(line) for line in argv[2].splitlines() if line.strip()]
        return [line for line in lines if line[0] == "harness"]
    return [argv]


# -- the manifests themselves ---------------------------------------------------------------------------------


def test_role_grants_only_what_the_harness_uses() -> None:
    (role,) = [d for d in load("rbac.yaml") if d["kind"] == "Role"]
    granted = {(group, resource, verb) for rule in role["rules"] for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]}
    assert ("networking.istio.io", "virtualservices", "update") in granted        # faults
    assert ("networking.istio.io", "destinationrules", "list") in granted         # cleanup lists every kind
    assert ("coordination.k8s.io", "leases", "create") in granted                 # the run lock
    assert ("apps", "deployments", "create") in granted                           # Locust worker pods
    assert not {r for g, r, v in granted if r in ("secrets", "pods") and v not in ("get", "list")}
    # one namespace; at cluster scope only a get of that one Namespace (lint reads its ambient label)
    (cluster_role,) = [d for d in load("rbac.yaml") if d["kind"] == "ClusterRole"]
    assert cluster_role["rules"] == [{"apiGroups": [""], "resources": ["namespaces"], "resourceNames": ["shop"],
                                      "verbs": ["get"]}]
    (binding,) = [d for d in load("rbac.yaml") if d["kind"] == "ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == cluster_role["metadata"]["name"]


@pytest.mark.parametrize("name", ["cleanup-cronjob.yaml", "gameday-cronjob.yaml"])
def test_cronjobs_run_commands_the_cli_accepts(name: str) -> None:
    spec = pod_spec(name)
    assert spec["serviceAccountName"] == "chaos-harness"
    (container,) = spec["containers"]
    lines = harness_lines(container)
    assert lines, f"{name} runs no harness command"
    for line in lines:
        parse_harness(line[1:])  # raises on an unknown command or option


def test_the_gameday_reads_a_configmap_and_writes_to_a_claim_that_deploy_defines() -> None:
    spec = pod_spec("gameday-cronjob.yaml")
    (container,) = spec["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in spec["volumes"]}
    assert "configMap" in volumes[mounts[env["EXPERIMENTS_DIR"]]]
    (claim,) = load("gameday-reports-pvc.yaml")
    reports = volumes[mounts[env["REPORTS_DIR"]]]
    assert reports["persistentVolumeClaim"]["claimName"] == claim["metadata"]["name"]
    assert claim["metadata"]["namespace"] == load("gameday-cronjob.yaml")[0]["metadata"]["namespace"]
    commands = {line[1]: parse_harness(line[1:]) for line in harness_lines(container)}
    assert [str(p) for p in commands["run"]["paths"]] == ["$EXPERIMENTS_DIR"]
    assert str(commands["run"]["report_dir"]).startswith("$REPORTS_DIR/")  # a folder per game day on the claim
    assert [str(p) for p in commands["history"]["roots"]] == ["$REPORTS_DIR"]  # ... and the history of them all
    # ... also from the store on the claim, which keeps the trend of game days whose folders were pruned
    assert str(commands["run"]["history_store"]) == str(commands["history"]["store"]) == "$REPORTS_DIR/history.jsonl"
    assert str(commands["history"]["html"]).startswith("$REPORTS_DIR/")
    # the image's user, who must be able to write on the claim
    (user,) = [a for keyword, a in dockerfile_instructions() if keyword == "USER"]
    assert spec["securityContext"]["runAsUser"] == spec["securityContext"]["fsGroup"] == int(user)


# -- the image ------------------------------------------------------------------------------------------------


def test_the_dockerfile_installs_a_wheel_as_a_non_root_user_with_harness_as_entry_point() -> None:
    instructions = dockerfile_instructions()
    for source in copy_sources():
        assert (ROOT / source).exists(), f"deploy/Dockerfile copies {source}, which does not exist"
    runs = " ".join(a for keyword, a in instructions if keyword == "RUN")
    assert "pip wheel" in runs and ".whl" in runs
    assert "-e " not in runs and "--editable" not in runs
    users = [a for keyword, a in instructions if keyword == "USER"]
    assert users and users[-1].isdigit() and int(users[-1]) != 0  # numeric: runAsNonRoot can check it
    assert entrypoint() == ["harness"]


def test_the_docker_context_sends_what_the_dockerfile_copies() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert "*" in ignore  # an allow-list: .venv/, reports/ and the sandbox's state never go to the builder
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    assert set(copy_sources()) == allowed


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> InstalledImage:
    """The wheel deploy/Dockerfile builds, installed alone in a venv (about 5 s)."""
    return install_image(tmp_path_factory.mktemp("image"))


def test_the_installed_wheel_finds_profiles_and_manifests_outside_the_repository(
        image: InstalledImage, tmp_path: Path) -> None:
    probe = ("import json, harness\n"
             "from harness.experiment import Load\n"
             "from harness.load import resolve_locustfile\n"
             "from harness.load._kubernetes import MANIFESTS\n"
             "from harness.sandbox._workloads import rbac_file\n"
             "print(json.dumps({'package': harness.__file__, 'shop': str(resolve_locustfile(Load(profile='shop'), None)),"
             " 'generic': str(resolve_locustfile(Load(profile='generic', requests=[{'path': '/'}]), None)),"
             " 'locust': sorted(p.name for p in MANIFESTS.glob('*.yaml')), 'rbac': str(rbac_file())}))\n")
    ran = image.run(["python", "-c", probe], cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    found = json.loads(ran.stdout)
    site = str(image.site_packages)
    assert found["package"].startswith(site), "harness came from the checkout, not the wheel"
    assert found["shop"] == f"{site}/harness/loadprofiles/shop.py"
    assert found["generic"] == f"{site}/harness/loadprofiles/generic.py"
    assert found["locust"] == sorted(p.name for p in (DEPLOY / "locust").glob("*.yaml"))
    assert found["rbac"] == f"{site}/harness/deploy/rbac.yaml"


def test_the_installed_wheel_renders_report_html_from_its_own_template(image: InstalledImage, tmp_path: Path) -> None:
    probe = ("import pandas as pd\n"
             "from pathlib import Path\n"
             "from harness.report import RunResult, write_reports\n"
             "from harness.report._html import TEMPLATES\n"
             "folder = write_reports(RunResult('probe', 'r1', 'x.yaml', {}), pd.DataFrame(columns=['t', 'cohort', "
             "'latency_ms', 'outcome']), Path('out'))\n"
             "print(TEMPLATES)\n"
             "print((folder / 'report.html').read_text())\n")
    ran = image.run(["python", "-c", probe], cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    where, page = ran.stdout.split("\n", 1)
    assert where == f"{image.site_packages}/harness/report/templates"
    assert "<h2>Verdicts</h2>" in page and "@page { size: A4" in page  # the template and its stylesheet


def test_the_installed_console_script_validates_experiment_folders(image: InstalledImage, tmp_path: Path) -> None:
    for folder in ("staging", "sandbox"):
        experiments = tmp_path / folder
        shutil.copytree(ROOT / "experiments" / folder, experiments)
        ran = image.run(["harness", "validate", str(experiments)], cwd=tmp_path)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert ran.stdout.count("ok  ") == len(list(experiments.glob("*.yaml")))


# -- against the sandbox's API server -------------------------------------------------------------------------


def kubectl(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "--kubeconfig", str(config), *args], capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def admin_config(cluster: ApiCluster, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return cluster.kubeconfig(tmp_path_factory.mktemp("kubeconfig") / "admin", "admin")


@needs_kubectl
@pytest.mark.parametrize("name", MANIFESTS)
def test_each_manifest_passes_a_server_side_dry_run(admin_config: Path, name: str) -> None:
    applied = kubectl(admin_config, "apply", "--dry-run=server", "-f", str(DEPLOY / name))
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.count("(server dry run)") == len(load(name)), applied.stdout


@needs_kubectl
def test_the_rendered_locust_manifests_pass_a_server_side_dry_run(admin_config: Path, tmp_path: Path) -> None:
    # deploy/locust holds templates (${NAME}...), valid once rendered for a run
    from harness.load._kubernetes import WorkerPlan, render
    from harness.load._run import PROFILES_DIR

    plan = WorkerPlan(namespace="shop", run_id="ab12cd34", workers=2, master_host="10.0.0.5", master_port=5557,
                      image="istio-chaos-harness:0.1.0", locustfile=PROFILES_DIR / "shop.py",
                      load_config={"run_id": "ab12cd34", "tagged_share": 0.5}, expires_at="2030-01-01T00:00:00Z")
    rendered = tmp_path / "locust.yaml"
    rendered.write_text(yaml.safe_dump_all(render(plan)))
    applied = kubectl(admin_config, "apply", "--dry-run=server", "-f", str(rendered))
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.count("(server dry run)") == 3, applied.stdout


@needs_kubectl
def test_a_server_side_dry_run_refuses_a_kind_the_server_does_not_serve(admin_config: Path, tmp_path: Path) -> None:
    # What makes the dry runs above worth something: an unknown kind is an error, as on a real cluster.
    # --validate=false: for a kind the OpenAPI v3 documents do not name, kubectl falls back to client-side
    # validation with the protobuf OpenAPI v2 document, which the sandbox does not serve; the kind's
    # mapping through discovery is what this checks.
    manifest = tmp_path / "crontab.yaml"
    manifest.write_text(yaml.safe_dump({"apiVersion": "stable.example.com/v1", "kind": "CronTab",
                                        "metadata": {"name": "x", "namespace": "shop"}}))
    applied = kubectl(admin_config, "apply", "--dry-run=server", "--validate=false", "-f", str(manifest))
    assert applied.returncode != 0
    assert 'no matches for kind "CronTab"' in applied.stderr


# -- the game day, in-cluster mode ----------------------------------------------------------------------------


def configmap_volume(folder: Path, files: dict[str, str]) -> Path:
    """A folder laid out as the kubelet mounts a ConfigMap: files in ..<timestamp>/, ..data links there,
    each key a link into ..data (Kubernetes' atomic writer)."""
    stamp = folder / "..2026_01_06_10_00_00.000000001"
    stamp.mkdir(parents=True)
    for name, text in files.items():
        (stamp / name).write_text(text)
    os.symlink(stamp.name, folder / "..data")
    for name in files:
        os.symlink(f"..data/{name}", folder / name)
    return folder


def pod_credentials(sandbox: Any, folder: Path) -> dict[str, str]:
    """The environment a pod gets: KUBERNETES_SERVICE_* and its ServiceAccount's token, CA and namespace."""
    config = yaml.safe_load(sandbox.kubeconfig_path.read_text())
    token = next(u["user"]["token"] for u in config["users"] if u["name"] == sandbox.harness_context)
    server = config["clusters"][0]["cluster"]
    folder.mkdir()
    (folder / "token").write_text(token)
    (folder / "ca.crt").write_text(Path(server["certificate-authority"]).read_text())
    (folder / "namespace").write_text("shop")
    host, port = server["server"].removeprefix("https://").rsplit(":", 1)
    return {"KUBERNETES_SERVICE_HOST": host, "KUBERNETES_SERVICE_PORT": port, "HARNESS_SERVICEACCOUNT_DIR": str(folder)}


@pytest.fixture
def gameday_pod(demo: Any, image: InstalledImage, tmp_path: Path) -> Iterator[tuple[list[str], dict[str, str]]]:
    """The game-day container's command and environment, with its mounts and URLs pointed at the sandbox."""
    (container,) = pod_spec("gameday-cronjob.yaml")["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    experiment = yaml.safe_load((ROOT / "experiments/sandbox/01-run-scoped-abort.yaml").read_text())
    experiment["target"] = {"namespace": "shop", "backend": "kubernetes"}  # URLs come from the pod's environment
    # short, but the recovery's "below 2%" needs about 190 tagged requests to decide (40 tagged req/s here)
    experiment["phases"] = {"baseline": "3s", "fault": "5s", "recovery": "6s"}
    redirected = {"EXPERIMENTS_DIR": str(configmap_volume(tmp_path / "experiments", {
                      "01-run-scoped-abort.yaml": yaml.safe_dump(experiment)})),
                  "REPORTS_DIR": str(tmp_path / "reports"),
                  "GATEWAY_URL": demo.gateway_url, "PROMETHEUS_URL": demo.prometheus_url}
    assert set(redirected) <= set(env), "the CronJob no longer reads these from its environment"
    (tmp_path / "reports").mkdir()  # the claim's volume exists before the pod starts
    env.update(redirected)
    env.update(pod_credentials(demo, tmp_path / "serviceaccount"))
    env.update({"HOME": str(tmp_path / "home"), "KUBECONFIG": ""})  # in a pod there is no kubeconfig
    yield container_argv(container), env


@needs_prometheus
@pytest.mark.sandbox
@pytest.mark.slow
def test_the_gameday_command_runs_twice_in_cluster_mode_and_history_shows_both(
        gameday_pod: tuple[list[str], dict[str, str]], image: InstalledImage, demo: Any, tmp_path: Path) -> None:
    argv, env = gameday_pod
    logs = []
    for _ in range(2):
        ran = image.run(argv, cwd=tmp_path, extra_env=env, timeout_s=240)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        logs.append(ran.stdout)
    shown = image.run(["harness", "history", "--json", env["REPORTS_DIR"]], cwd=tmp_path)
    rows = json.loads(shown.stdout)
    assert [(r["name"], r["outcome"]) for r in rows] == [("run-scoped-abort", "PASS")] * 2
    first, second = (Path(r["folder"]) for r in rows)
    assert first.parent != second.parent  # a folder per game day: nothing overwritten
    assert all((Path(r["folder"]) / "junit.xml").exists() for r in rows)
    assert "run-scoped-abort" in logs[1] and " PP" in logs[1]  # the second run's log holds both runs' trend
    store = Path(env["REPORTS_DIR"]) / "history.jsonl"
    assert [json.loads(line)["outcome"] for line in store.read_text().splitlines()] == ["PASS", "PASS"]
    assert (Path(env["REPORTS_DIR"]) / "history.html").exists()
    vs = demo.istio.api.get("VirtualService", "shop", "productcatalog")
    assert not (vs["metadata"].get("annotations") or {}), "marks left behind"
