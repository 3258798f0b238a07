"""The ``harness`` command line: thin commands over the library; errors become messages, not tracebacks."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from harness._exitcodes import ExitCode
from harness.errors import HarnessError

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__ and
                  "Chaos experiments for Istio: faults through VirtualServices, load through the gateway, "
                  "verdicts from Prometheus.")
sandbox_app = typer.Typer(no_args_is_help=True, help="The embedded mesh sandbox: real Envoy + Prometheus, no cluster.")
app.add_typer(sandbox_app, name="sandbox")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)
F = TypeVar("F", bound=Callable[..., Any])

_STATE_HELP = "Sandbox state folder (default: $HARNESS_SANDBOX_DIR or ~/.local/state/istio-chaos-harness/sandbox)."
StateDir = Annotated[Path | None, typer.Option("--state-dir", help=_STATE_HELP)]
BackendName = Annotated[str, typer.Option("--backend", help="sandbox or kubernetes.")]
EachBackend = Annotated[str | None, typer.Option("--backend", help="sandbox or kubernetes (default: each "
                                                 "experiment's target.backend).")]
Context = Annotated[str | None, typer.Option(help="kubeconfig context (kubernetes backend).")]
Kubeconfig = Annotated[Path | None, typer.Option(help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config).")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


def handles_errors(command: F) -> F:
    """Turn harness errors into a clear message and an exit code from the table."""
    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except HarnessError as exc:
            err.print(f"[bold red]error:[/] {exc.message}", markup=True, soft_wrap=True)
            if exc.hint:
                err.print(f"[yellow]hint:[/] {exc.hint}", markup=True, soft_wrap=True)
            raise typer.Exit(int(ExitCode.INVALID)) from None
        except KeyboardInterrupt:
            err.print("interrupted")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
    return wrapper  # type: ignore[return-value]


def _print_warnings(warnings: list[str]) -> None:
    for warning in warnings:
        err.print(f"[yellow]warning:[/] {warning}", markup=True, soft_wrap=True)


@sandbox_app.command("up")
@handles_errors
def sandbox_up(
    topology: Annotated[Path | None, typer.Option(help="Topology file (default: the demo shop).")] = None,
    mesh: Annotated[list[Path] | None, typer.Option(help="Istio YAML file or folder (repeatable; default: the "
                                                    "demo shop's Gateway, VirtualServices, DestinationRules).")] = None,
    state_dir: StateDir = None,
    scrape_interval: Annotated[float, typer.Option(help="Prometheus scrape interval in seconds (clusters use 15-30; "
                                                   "1 gives fast feedback).")] = 15.0,
    push_delay: Annotated[float, typer.Option(help="Seconds istiod waits before pushing a config change to the "
                                              "proxies (a loaded cluster takes seconds).")] = 1.0,
    alertmanager: Annotated[bool, typer.Option("--alertmanager", help="Also run Alertmanager, fed by Prometheus's "
                                               "alert rules (for alert guardrails).")] = False,
    alert_rules: Annotated[list[Path] | None, typer.Option(help="Prometheus rule file (repeatable; default: "
                                                           "deploy/prometheus/shop-alerts.rules.yml); implies "
                                                           "--alertmanager.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """Start the sandbox cluster detached (API server, istiod, Envoys, Prometheus, demo pods) and print its URLs."""
    from harness.sandbox import Sandbox

    progress = None if as_json else (lambda message: err.print(f"[dim]{message}[/]", markup=True))
    sandbox = Sandbox.start(topology=topology, mesh=mesh, state_dir=state_dir, progress=progress,
                            scrape_interval_s=scrape_interval, push_delay_s=push_delay,
                            alertmanager=alertmanager or bool(alert_rules), alert_rules=alert_rules)
    _print_warnings(sandbox.warnings)
    if as_json:
        print(json.dumps(sandbox.urls()))
        return
    for key, value in sandbox.urls().items():
        out.print(f"{key:15} {value}")
    suffix = f" --state-dir {state_dir}" if state_dir else ""
    out.print(f'use it with:  kubectl --kubeconfig "$(harness sandbox kubeconfig{suffix})" get virtualservices -A')
    out.print(f"stop it with: harness sandbox down{suffix}")


@sandbox_app.command("kubeconfig")
@handles_errors
def sandbox_kubeconfig(state_dir: StateDir = None) -> None:
    """Print the path of the sandbox cluster's kubeconfig (contexts "sandbox" and "sandbox-admin")."""
    from harness.sandbox import Sandbox

    print(Sandbox.attach(state_dir).kubeconfig_path)


@sandbox_app.command("restart")
@handles_errors
def sandbox_restart(
    pod: Annotated[str, typer.Argument(help="Pod name, as 'kubectl get pods' shows it.")],
    state_dir: StateDir = None,
) -> None:
    """Restart a pod's containers (its Envoy starts from zero counters, as after a real restart)."""
    from harness.sandbox import Sandbox

    updated = Sandbox.attach(state_dir).control.restart(pod)
    restarts = max((c.get("restartCount", 0) for c in updated.get("status", {}).get("containerStatuses") or []),
                   default=0)
    out.print(f"restarted pod {updated['metadata']['namespace']}/{updated['metadata']['name']} (restarts: {restarts})",
              markup=False)


@sandbox_app.command("status")
@handles_errors
def sandbox_status(state_dir: StateDir = None, as_json: JsonFlag = False) -> None:
    """Show whether the sandbox runs, its URLs and its processes (exit 1 when not running)."""
    from harness.errors import SandboxNotRunning
    from harness.sandbox import Sandbox

    try:
        status = Sandbox.attach(state_dir).status()
    except SandboxNotRunning as exc:
        status = {"running": False, "message": exc.message}
    if as_json:
        print(json.dumps(status))
    elif not status["running"] and "processes" not in status:
        out.print(status["message"])
    else:
        out.print("running" if status["running"] else "[red]degraded: some processes are gone[/]", markup=True)
        for key in ("gateway_url", "prometheus_url", "alertmanager_url", "admin_url", "state_dir"):
            if key in status:
                out.print(f"{key:15} {status[key]}")
        for name, alive in status["processes"].items():
            out.print(f"  {name:32} {'up' if alive else 'DOWN'}")
    raise typer.Exit(int(ExitCode.OK if status["running"] else ExitCode.FAILED))


@sandbox_app.command("down")
@handles_errors
def sandbox_down(state_dir: StateDir = None) -> None:
    """Stop every sandbox process by PID (TERM, then KILL), even if the starter is gone."""
    from harness.errors import SandboxNotRunning
    from harness.sandbox import Sandbox

    try:
        sandbox = Sandbox.attach(state_dir)
    except SandboxNotRunning as exc:
        out.print(exc.message)
        return
    sandbox.stop()
    out.print(f"stopped the sandbox in {sandbox.state_dir}")


@sandbox_app.command("apply")
@handles_errors
def sandbox_apply(
    paths: Annotated[list[Path], typer.Argument(help="Istio YAML files or folders.")],
    state_dir: StateDir = None,
) -> None:
    """Create or update Istio resources in the running sandbox (like kubectl apply) and wait until every proxy has them."""
    from harness.sandbox import Sandbox

    result = Sandbox.attach(state_dir).apply_files(paths)
    for line in result.applied:
        out.print(line, markup=False)
    out.print(f"in every proxy after {result.seconds * 1000:.0f} ms")


@sandbox_app.command("behave")
@handles_errors
def sandbox_behave(
    service: Annotated[str, typer.Argument(help="Service name from the topology.")],
    version: Annotated[str | None, typer.Option(help="Only this version.")] = None,
    replica: Annotated[int | None, typer.Option(help="Only this replica index (0-based).")] = None,
    latency_ms: Annotated[float | None, typer.Option(help="Extra latency per request.")] = None,
    error_rate: Annotated[float | None, typer.Option(min=0, max=1, help="Share of requests that fail (0..1).")] = None,
    error_status: Annotated[int | None, typer.Option(help="Status of failed requests (default 503).")] = None,
    reset: Annotated[bool, typer.Option("--reset", help="Back to normal before applying the options.")] = False,
    state_dir: StateDir = None,
) -> None:
    """Change how a service's replicas answer while the sandbox runs (real upstream failures)."""
    from harness.sandbox import Sandbox

    replicas = Sandbox.attach(state_dir).set_behaviour(
        service, version=version, replica=replica, reset=reset, latency_ms=latency_ms, error_rate=error_rate,
        error_status=error_status)
    for replica_state in replicas:
        out.print(f"{replica_state['replica']:28} {replica_state['behaviour'] or 'normal'}")


@app.command("run")
@handles_errors
def run(
    paths: Annotated[list[Path], typer.Argument(help="Experiment files or folders (a folder runs as a suite).")],
    sandbox: Annotated[bool, typer.Option("--sandbox", help="Start the embedded sandbox if none runs "
                                          "(and stop it afterwards).")] = False,
    report_dir: Annotated[Path, typer.Option(help="Where reports go.")] = Path("reports"),
    junit: Annotated[Path | None, typer.Option(help="Also write one JUnit XML file for the whole suite.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Validate and print the exact changes and queries; "
                                          "touch nothing.")] = False,
    inconclusive_fails: Annotated[bool, typer.Option("--inconclusive-fails", help="Exit 1 (not 4) when verdicts "
                                                     "are only inconclusive.")] = False,
    gateway_url: Annotated[str | None, typer.Option(help="Ingress gateway URL (kubernetes backend).")] = None,
    prometheus_url: Annotated[str | None, typer.Option(help="Prometheus URL (kubernetes backend).")] = None,
    alertmanager_url: Annotated[str | None, typer.Option(help="Alertmanager URL for alert guardrails (beats "
                                                         "target.alertmanagerUrl; else $ALERTMANAGER_URL or the "
                                                         "sandbox's own).")] = None,
    allow_namespace: Annotated[list[str] | None, typer.Option(help="Only these namespaces may be touched "
                                                              "(repeatable; default $HARNESS_ALLOWED_NAMESPACES).")] = None,
    allow_production: Annotated[bool, typer.Option("--allow-production", help="Allow contexts/namespaces that "
                                                   "look like production.")] = False,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
    sandbox_scrape_interval: Annotated[float, typer.Option(
        help="Scrape interval of a sandbox that --sandbox starts. The example suite's phases are sized for 1 s; "
             "'harness sandbox up' defaults to a cluster's 15 s.")] = 1.0,
    notify_config: Annotated[Path | None, typer.Option(
        "--notify-config", help="YAML file of webhooks, slack and grafana receivers told about every run (the keys "
        "of an experiment's notify: block); a failing receiver never fails a run.")] = None,
    history_store: Annotated[Path | None, typer.Option(
        "--history-store", help="Append one JSON line per run to this file (outcomes, score, latency, recovery), "
        "which 'harness history --store' reads after report folders are pruned.")] = None,
    state_dir: StateDir = None,
) -> None:
    """Run experiments: baseline, inject, fault phase, revert, recovery, verdicts, reports."""
    from harness import suite as suites
    from harness.experiment import load_experiments, load_notify_config

    options = suites.TargetOptions(sandbox, state_dir, context, kubeconfig, gateway_url, prometheus_url,
                                   allow_production, tuple(allow_namespace or ()),
                                   sandbox_scrape_interval_s=sandbox_scrape_interval, alertmanager_url=alertmanager_url)
    experiments = load_experiments(paths)
    notify = load_notify_config(notify_config) if notify_config else None
    if dry_run:
        out.print(_dry_run(paths, experiments, options), markup=False)
        return
    try:
        with suites.open_target(experiments, options, _progress) as target:
            result = suites.run_suite(paths, target, report_root=report_dir, progress=_progress, junit=junit,
                                      inconclusive_fails=inconclusive_fails, notify=notify)
    finally:
        _progress.stop()
    _print_suite(result)
    if history_store is not None:
        _append_history(history_store, result.runs)
    raise typer.Exit(int(result.exit_code(inconclusive_fails=inconclusive_fails)))


def _append_history(store: Path, runs: list[Any]) -> None:
    """A store that cannot be written is said, not fatal: the suite's exit code stands and its folders hold it all."""
    from harness.errors import ReportError
    from harness.report import append_runs

    try:
        err.print(f"appended {append_runs(store, runs)} run(s) to the history store {store}", markup=False)
    except ReportError as exc:
        err.print(f"WARNING {exc}", markup=False)


def _dry_run(paths: list[Path], experiments: Any, options: Any) -> str:
    from harness import suite as suites
    from harness.errors import SandboxNotRunning

    try:
        with suites.open_target(experiments, options, lambda _: None) as target:
            return suites.dry_run(paths, target=target)
    except SandboxNotRunning:
        return suites.dry_run(paths, suites.demo_mesh_objects())


AllowNamespace = Annotated[list[str] | None, typer.Option(help="Only these namespaces may be touched (repeatable; "
                                                          "default $HARNESS_ALLOWED_NAMESPACES).")]
AllowProduction = Annotated[bool, typer.Option("--allow-production", help="Allow contexts/namespaces that look like "
                                               "production.")]


@app.command("inject")
@handles_errors
def inject_command(
    path: Annotated[Path, typer.Argument(help="Experiment file whose faults to inject.")],
    ttl: Annotated[str, typer.Option(help="How long the marks say the fault may stay (cleanup --expired).")] = "15m",
    backend: BackendName = "sandbox",
    context: Context = None,
    kubeconfig: Kubeconfig = None,
    state_dir: StateDir = None,
    allow_namespace: AllowNamespace = None,
    allow_production: AllowProduction = False,
) -> None:
    """Inject an experiment's faults and leave them in place; prints the run id first, then each diff."""
    from harness.experiment import load_experiments
    from harness.istio import parse_duration_s
    from harness.mesh import check_target, inject, open_backend
    from harness.report._write import spec_diff
    from harness.runner import new_run_id

    (loaded,) = load_experiments([path])[:1]
    exp = loaded.experiment
    mesh = open_backend(backend, context=context, kubeconfig=kubeconfig, state_dir=state_dir)
    check_target(exp.target.namespace, mesh.context, allowed=allow_namespace or None,
                 allow_production=allow_production)
    run_id = new_run_id()
    revert_hint = f"harness revert {run_id} --backend {backend}" + (f" --context {context}" if context else "")
    out.print(f"run id: {run_id} (if this stops half-way: {revert_hint})", markup=False)
    for fault in exp.faults:
        applied = inject(mesh, fault, namespace=exp.target.namespace, run_id=run_id, owner=exp.metadata.owner,
                         ttl_s=parse_duration_s(ttl))
        out.print(f"{'created' if applied.created else 'changed'} VirtualService {applied.namespace}/{applied.name}:")
        out.print(spec_diff(applied.before, applied.after), markup=False)
    out.print(f"revert with: {revert_hint}", markup=False)


@app.command("revert")
@handles_errors
def revert_command(
    run_id: Annotated[str, typer.Argument(help="The run id printed by inject or run.")],
    namespace: Annotated[str | None, typer.Option(help="Only this namespace.")] = None,
    backend: BackendName = "sandbox",
    context: Context = None,
    kubeconfig: Kubeconfig = None,
    state_dir: StateDir = None,
) -> None:
    """Restore every object changed by one run, read each back, and print what was done."""
    from harness.mesh import marked_objects, open_backend

    mesh = open_backend(backend, context=context, kubeconfig=kubeconfig, state_dir=state_dir)
    found = marked_objects(mesh, namespace, expired_only=False, run_id=run_id)
    if not found:
        out.print(f"nothing carries the marks of run {run_id}")
    left = _restore_each(mesh, found, label=lambda obj: f"{obj['metadata']['namespace']}/{obj['metadata']['name']}")
    _raise_if_left(left, again=f"harness revert {run_id} {_backend_flags(backend, context, kubeconfig, state_dir)}")


def _backend_flags(backend: str, context: str | None, kubeconfig: Path | None, state_dir: Path | None) -> str:
    """The options that reach the same backend again, for the commands printed in hints."""
    flags = [f"--backend {backend}"] + [f"{flag} {value}" for flag, value in (
        ("--context", context), ("--kubeconfig", kubeconfig), ("--state-dir", state_dir)) if value]
    return " ".join(flags)


def _restore_each(mesh: Any, objects: list[Any], *, label: Callable[[Any], str]) -> list[str]:
    """Restore every object (one failing does not stop the others); "restored" only when its read-back matched.

    Returns what is not back, one line per object.
    """
    from harness.errors import BackendError
    from harness.mesh import restore_marked, run_id_of

    left = []
    for obj in objects:
        try:
            result = restore_marked(obj, mesh, run_id_of(obj))
        except BackendError as exc:
            left.append(f"{label(obj)}: {exc.message}")
            out.print(f"{label(obj)}: FAILED: {exc.message}", markup=False)
            continue
        if not result.is_done:
            left.append(f"{label(obj)}: {result.leftover}")
        out.print(f"{label(obj)}: {result.action} {result.leftover or result.detail}".rstrip(), markup=False)
    return left


def _raise_if_left(left: list[str], *, again: str) -> None:
    if left:
        raise HarnessError(f"{len(left)} object(s) are not back as they were: {'; '.join(left)}",
                           hint=f"once the cause is fixed, run again: {again}")


class _LiveProgress:
    """On a terminal the phase line updates in place; in CI logs every line is printed plainly."""

    def __init__(self) -> None:
        self._status: Any = None

    def __call__(self, message: str) -> None:
        is_phase_line = " left " in message
        if not err.is_terminal:
            err.print(message, markup=False, highlight=False)
        elif is_phase_line:
            if self._status is None:
                self._status = err.status(message)
                self._status.start()
            else:
                self._status.update(message)
        else:
            self.stop()
            err.print(f"[dim]{message}[/]", markup=True)

    def stop(self) -> None:
        if self._status is not None:
            self._status.stop()
            self._status = None


_progress = _LiveProgress()


def _print_suite(result: Any) -> None:
    from harness.report import verdict_line

    colours = {"PASS": "green", "FAIL": "red", "INCONCLUSIVE": "yellow"}
    for run, folder in result.runs:
        outcome = run.outcome.value
        out.print(f"[bold {colours[outcome]}]{outcome}[/] {run.name} ({run.status})", markup=True)
        for verdict in run.verdicts:
            out.print(f"  {verdict_line(verdict)}", markup=False, soft_wrap=True)
        if run.error:
            out.print(f"  {run.error}", markup=False)
        out.print(f"  report: {folder / 'report.html'}", markup=False)
    if len(result.runs) > 1:
        out.print(f"resilience score: {result.score:.0f}% of hypotheses passed")


@app.command("report")
@handles_errors
def report_command(folder: Annotated[Path, typer.Argument(help="A report folder written by harness run.")]) -> None:
    """Regenerate a run's reports (HTML, JUnit, summary) from its journal and raw samples."""
    from harness.report import regenerate

    out.print(f"regenerated {regenerate(folder) / 'report.html'}", markup=False)


@app.command("history")
@handles_errors
def history_command(
    roots: Annotated[list[Path] | None, typer.Argument(help="Report folders to scan (default: reports/).")] = None,
    as_json: JsonFlag = False,
    html: Annotated[Path | None, typer.Option("--html", help="Also write one self-contained HTML page: outcomes, "
                                              "resilience score, activation latency and recovery trends, "
                                              "the runs that changed outcome.")] = None,
    store: Annotated[Path | None, typer.Option("--store", help="Also read the history store that 'harness run "
                                               "--history-store' appends to (it outlives pruned report folders); "
                                               "without folders, only the store is read.")] = None,
) -> None:
    """Show every run under the report folders (and in the store), and each experiment's trend (for game days)."""
    from harness.report import collect_runs, history_rows, trends, write_history_page

    collected = collect_runs(roots or ([] if store else [Path("reports")]), store)
    for skipped in collected.skipped:  # on stderr, like the page's path, so that --json output stays parseable
        err.print(f"history store: skipped {skipped}", markup=False)
    rows = history_rows(collected.runs)
    if html is not None:
        err.print(f"wrote {write_history_page(collected.runs, html)}", markup=False)
    if as_json:
        print(json.dumps([{**r.__dict__, "folder": str(r.folder)} for r in rows]))
        return
    if not rows:
        out.print("no runs found")
        return
    for row in rows:
        out.print(f"{row.when}  {row.outcome:12} {row.passed}/{row.total} passed  {row.name:36} {row.status}",
                  markup=False)
    out.print("trend (oldest first, P pass, F fail, ? inconclusive):")
    for name, strip in trends(rows).items():
        out.print(f"  {name:36} {strip}", markup=False)


@app.command("validate")
@handles_errors
def validate(
    paths: Annotated[list[Path], typer.Argument(help="Experiment files or folders.")],
    lint: Annotated[bool, typer.Option("--lint/--no-lint", help="Also report lint's errors and warnings "
                                       "(Istio/Envoy semantics against the mesh, as `harness lint`).")] = True,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when lint finds an error.")] = False,
) -> None:
    """Check experiment files; errors name file, line, column and field. Lint's errors and warnings follow
    (exit 1 on a lint error only with --strict: an experiment may be meant to fail)."""
    from harness.experiment import load_experiments

    for loaded in load_experiments(paths):
        out.print(f"ok  {loaded.path}: {loaded.experiment.metadata.name}", markup=False)
    if not lint:
        return
    from harness.lint import MeshOptions, lint_paths, render_brief

    report = lint_paths(paths, MeshOptions())
    if brief := render_brief(report):
        out.print(brief, markup=False)
    if strict and report.exit_code:
        raise typer.Exit(int(report.exit_code))


@app.command("lint")
@handles_errors
def lint_command(
    paths: Annotated[list[Path], typer.Argument(help="Experiment files or folders.")],
    as_json: JsonFlag = False,
    sarif: Annotated[Path | None, typer.Option("--sarif", help="Also write the findings as a SARIF 2.1.0 log "
                                               "(code annotations in CI).")] = None,
    backend: EachBackend = None,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
    state_dir: StateDir = None,
) -> None:
    """Find what makes experiments fail before they run: Istio/Envoy semantics checked against the experiment, its
    policies and the live mesh (the sandbox's demo mesh when none runs). Each finding has a code (HL101...; the
    README's "harness lint" section lists them), a severity, file:line, the object involved, why and a fix.
    Exit 1 on any error finding, 2 on invalid input."""
    from harness.lint import MeshOptions, lint_paths, render_json, render_sarif, render_text

    report = lint_paths(paths, MeshOptions(backend, context, kubeconfig, state_dir))
    if sarif is not None:
        sarif.write_text(json.dumps(render_sarif(report), indent=2) + "\n")
    if as_json:
        print(render_json(report))
    else:
        out.print(render_text(report), markup=False)
    raise typer.Exit(int(report.exit_code))


@app.command("predict")
@handles_errors
def predict_command(
    paths: Annotated[list[Path], typer.Argument(help="Experiment files or folders.")],
    as_json: JsonFlag = False,
    backend: EachBackend = None,
    context: Context = None,
    kubeconfig: Kubeconfig = None,
    state_dir: StateDir = None,
) -> None:
    """Predict what each hypothesis will observe from the Istio/Envoy semantics (aborts, retries, timeouts, outlier
    detection, connection pools) against the same mesh as `harness lint`, with the assumptions stated. "predicted to
    FAIL" warns before a run. Exit 0 (predictions are advice), 2 on invalid input."""
    from harness.lint import MeshOptions
    from harness.predict import predict_paths, render_json, render_text

    report = predict_paths(paths, MeshOptions(backend, context, kubeconfig, state_dir))
    if as_json:
        print(render_json(report))
    else:
        out.print(render_text(report), markup=False)


@app.command("schema")
def schema() -> None:
    """Print the experiment JSON Schema (for editors: yaml-language-server)."""
    from harness.experiment import Experiment

    print(json.dumps(Experiment.model_json_schema(by_alias=True), indent=2))


@app.command("cleanup")
@handles_errors
def cleanup(
    namespace: Annotated[str | None, typer.Option(help="Only this namespace.")] = None,
    run_id: Annotated[str | None, typer.Option("--run", help="Only this run's marks, live or expired.")] = None,
    everything: Annotated[bool, typer.Option("--all", help="Every run's marks, also runs that are still live.")] = False,
    expired: Annotated[bool, typer.Option("--expired", help="Only expired marks (the default; kept for scripts).")
                       ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List what would be restored.")] = False,
    backend: BackendName = "sandbox",
    context: Context = None,
    kubeconfig: Kubeconfig = None,
    state_dir: StateDir = None,
) -> None:
    """Restore what killed runs left behind: objects whose chaos marks expired (or --run ID, --all)."""
    from harness.mesh import describe_mark, open_backend, plan_cleanup

    if everything and run_id:
        raise HarnessError("--all and --run exclude each other", hint="pick one")
    mesh = open_backend(backend, context=context, kubeconfig=kubeconfig, state_dir=state_dir)
    namespace = namespace or _cleanup_scope(mesh)
    plan = plan_cleanup(mesh, namespace, run_id=run_id, everything=everything)
    for obj in plan.skipped:
        meta = obj["metadata"]
        out.print(f"skipped {obj['kind']} {meta['namespace']}/{meta['name']}: {describe_mark(obj)} is still live "
                  "(--run ID or --all to include it)", markup=False)
    if not plan.restore:
        out.print("nothing to clean up")
    def label(obj: Any) -> str:
        return f"{obj['kind']} {obj['metadata']['namespace']}/{obj['metadata']['name']} ({describe_mark(obj)})"

    for obj in plan.restore if dry_run else []:
        out.print(f"would restore {label(obj)}", markup=False)
    left = [] if dry_run else _restore_each(mesh, plan.restore, label=label)
    _cleanup_load(mesh, namespace, run_id=run_id, everything=everything, dry_run=dry_run)
    _release_leases(mesh, namespace, run_id=run_id, everything=everything, dry_run=dry_run)
    scope = f" --run {run_id}" if run_id else (" --all" if everything else "")
    _raise_if_left(left, again=f"harness cleanup{scope} {_backend_flags(backend, context, kubeconfig, state_dir)}")


def _release_leases(mesh: Any, namespace: str | None, *, run_id: str | None, everything: bool, dry_run: bool) -> None:
    """A dead run's lock: taken over, so the target is free again (a run the user named: even if live)."""
    from harness.mesh import release_lease, stale_leases

    for lease in stale_leases(mesh, namespace, run_id=run_id, everything=everything):
        meta = lease["metadata"]
        holder = (lease.get("spec") or {}).get("holderIdentity")
        named = bool(run_id or everything) and holder is not None  # the user named this run: release it even if live
        if dry_run:
            out.print(f"would remove the Lease {meta['namespace']}/{meta['name']} of run {holder}", markup=False)
        elif release_lease(mesh, meta["namespace"], meta["name"], run_id=holder if named else None):
            out.print(f"removed the Lease {meta['namespace']}/{meta['name']} of run {holder}", markup=False)


def _cleanup_scope(mesh: Any) -> str | None:
    """Every namespace when the credentials may list them; else the context's namespace, said out loud."""
    from harness.istio import API_GROUP

    can = getattr(mesh, "can", None)
    if can is None or can("list", API_GROUP, "virtualservices", None):
        return None
    scope = getattr(mesh, "default_namespace", None) or "default"
    err.print(f"cleaning up namespace {scope} only: the credentials cannot list across namespaces "
              "(--namespace N for another)", markup=False)
    return str(scope)


def _cleanup_load(mesh: Any, namespace: str | None, *, run_id: str | None, everything: bool, dry_run: bool) -> None:
    """Worker Deployments, master Services and ConfigMaps of dead runs' distributed load."""
    from harness.load import delete_load_objects, leftover_load_objects

    api_client = getattr(mesh, "api_client", None)
    if api_client is None:
        return
    for obj in leftover_load_objects(api_client, namespace, run_id=run_id, everything=everything):
        meta = obj["metadata"]
        if not dry_run:
            delete_load_objects(api_client, [obj])
        out.print(f"{'would delete' if dry_run else 'deleted'} {obj['kind']} {meta['namespace']}/{meta['name']} "
                  f"(load of run {meta['run_id']})", markup=False)


def main() -> None:
    app()


if __name__ == "__main__":
    sys.exit(main())
