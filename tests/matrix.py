"""The validation matrix: configurations run on the sandbox, each hypothesis's prediction against its observation.

Each configuration in ``experiments/matrix/`` is an experiment a user could run alone. They run together: every
configuration has its own service behind ``entry``'s sidecar (own VirtualService, DestinationRule, Envoy clusters
and outlier state), so the configurations of a batch are merged into one experiment (faults, failures, policies,
hypotheses and the load's request mix side by side) and run once, as a real ``harness`` run through the Kubernetes
path. Mechanisms do not cross services; only CPU is shared, which the latency tolerance below covers.

The agreement rule, stated once (``agreement``). The matrix makes M comparisons at once, so each interval is at
confidence 1 - FAMILY_ERROR / M (Bonferroni): exactly right predictions all agree with probability >= 99%, where
M intervals at 95% each would show a disagreement by chance in most runs.
- rates (error, flag): the prediction lies in the run's Wilson interval of the observed rate;
- latency quantiles: the prediction, or up to ``LATENCY_OVERHEAD_MS`` above it (what proxies, Python services and
  loopback add on this machine), lies in the observed histogram bucket that holds the quantile;
- Envoy event counts (retries, ejections, overflows, timeouts): the prediction lies in the exact (Garwood)
  Poisson interval of the observed count, the count's sampling error;
- a predicted range [low, high] agrees when it overlaps the observed interval (ends compared to within
  ``ROUNDING``, floating-point error only).
An observation with too little evidence (an INCONCLUSIVE verdict without an interval, or fewer than
``MIN_REQUESTS`` requests behind a rate or quantile) is "not observed", never agreement.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from harness.experiment import ENVOY_COUNTERS, LoadedExperiment, load_experiment_text, load_experiments

MATRIX_DIR = Path(__file__).resolve().parent.parent / "experiments" / "matrix"
NAMESPACE = "matrix"
LATENCY_OVERHEAD_MS = 50.0
MIN_REQUESTS = 30
FAMILY_ERROR = 0.01  # the chance that a matrix of exactly right predictions shows any disagreement
ROUNDING = 1e-9  # floating-point ends of an interval: Wilson's lower end for 0 errors in 102 computes as 3.5e-18

Progress = Callable[[str], None]

# hypothesis name -> why prediction and observation may disagree (each explained in docs/prediction-matrix.md);
# a known case may also agree in a run (its disagreement can depend on timing), so it is reported, not required
KNOWN: dict[str, str] = {}  # none left: m23's UH share is now predicted as the range [1 - 3/N, 1]


@dataclass(frozen=True)
class Case:
    """One matrix row: a hypothesis of one configuration, its prediction and its observation."""

    configuration: str          # the case experiment's name (m01 ...)
    title: str                  # what the configuration is
    hypothesis: str
    measure: str
    predicted: float | None
    predicted_range: tuple[float, float] | None
    observed: float | None
    interval: tuple[float, float] | None
    status: str                 # agree | disagree | not observed | not predicted
    note: str = ""


@dataclass(frozen=True)
class MatrixResult:
    cases: list[Case]
    wall_s: float
    confidence: float                                # each observed interval's (family_confidence)
    runs: list[Path] = field(default_factory=list)   # the report folder of each batch run

    @property
    def judged(self) -> list[Case]:
        return [c for c in self.cases if c.status in ("agree", "disagree")]

    @property
    def agreed(self) -> list[Case]:
        return [c for c in self.cases if c.status == "agree"]

    @property
    def configurations(self) -> int:
        return len({c.configuration for c in self.cases})


def case_files(folder: Path = MATRIX_DIR) -> list[Path]:
    """The configurations: every experiment file directly in the matrix folder."""
    return sorted(p for p in folder.glob("m*.yaml"))


def load_cases(folder: Path = MATRIX_DIR) -> list[LoadedExperiment]:
    return load_experiments(case_files(folder))


def family_confidence(comparisons: int) -> float:
    """Each interval's confidence when ``comparisons`` are made together (Bonferroni)."""
    return 1 - FAMILY_ERROR / max(comparisons, 1)


def merge_cases(cases: Sequence[LoadedExperiment], name: str, into: Path, *, confidence: float) -> LoadedExperiment:
    """One experiment running ``cases`` side by side: their faults, failures, policies and hypotheses (judged at
    ``confidence``), and a request mix in which each configuration keeps its own request rate."""
    docs = [yaml.safe_load(c.source.path.read_text()) for c in cases if c.source.path is not None]
    folders = [c.source.path.parent for c in cases if c.source.path is not None]
    merged: dict[str, Any] = {
        "apiVersion": "harness/v1", "kind": "Experiment",
        "metadata": {"name": name, "owner": "matrix", "description": f"{len(docs)} matrix configurations at once"},
        "target": {"namespace": NAMESPACE},
        "policies": [str((folder / p).resolve()) for doc, folder in zip(docs, folders, strict=True)
                     for p in doc.get("policies", [])],
        "faults": [f for doc in docs for f in doc.get("faults", [])],
        "failures": [f for doc in docs for f in doc.get("failures", [])],
        "phases": {key: _longest([d["phases"][key] for d in docs]) for key in ("baseline", "fault", "recovery")},
        "load": {"profile": "generic", "users": sum(d["load"]["users"] for d in docs),
                 "spawnRate": sum(d["load"]["users"] for d in docs),  # all users within a second: no ramp to wait for
                 "rate": sum(d["load"]["rate"] for d in docs), "taggedShare": 0.5,
                 "requests": [{**r, "weight": int(d["load"]["rate"])} for d in docs for r in d["load"]["requests"]]},
        "hypotheses": [{**h, "confidence": confidence} for doc in docs for h in doc["hypotheses"]],
    }
    path = into / f"{name}.yaml"
    path.write_text(yaml.safe_dump(merged, sort_keys=False))
    (loaded,) = load_experiment_text(path.read_text(), path)
    return loaded


def _longest(durations: list[str]) -> str:
    from harness.istio import parse_duration_s

    return max(durations, key=parse_duration_s)


def run_matrix(sandbox: Any, report_root: Path, *, progress: Progress = lambda _: None,
               folder: Path = MATRIX_DIR) -> MatrixResult:
    """Run every configuration on ``sandbox`` (started with the matrix topology and mesh) and compare."""
    from harness.runner import RunOptions, run_experiment
    from harness.suite import sandbox_target

    started = time.perf_counter()
    report_root.mkdir(parents=True, exist_ok=True)
    cases = load_cases(folder)
    titles = {c.experiment.metadata.name: c.experiment.metadata.description for c in cases}
    confidence = family_confidence(sum(len(c.experiment.hypotheses) for c in cases))
    rows: list[Case] = []
    runs: list[Path] = []
    with sandbox_target(sandbox.state_dir, start=False, progress=progress) as target:
        for index, batch in enumerate(batches(cases)):
            merged = merge_cases(batch, f"matrix-{index + 1}", report_root, confidence=confidence)
            predictions = predict(merged, sandbox)
            result, report = run_experiment(merged, target, RunOptions(report_root=report_root, progress=progress))
            runs.append(report)
            if result.error:
                raise AssertionError(f"matrix batch {index + 1} did not complete: {result.error}")
            rows += compare(merged, result.verdicts, predictions, titles, confidence)
    return MatrixResult(rows, time.perf_counter() - started, confidence, runs)


def batches(cases: list[LoadedExperiment]) -> list[list[LoadedExperiment]]:
    """Configurations with VirtualService faults run apart from those with replica failures only.

    A run ends its fault window when the last fault's revert is confirmed in the proxies, and it restores
    replica behaviour before it takes VirtualService faults out: in a run with both (or with several faults),
    the configurations restored first would count up to a second of healthy requests as fault-phase traffic.
    Alone, each configuration has no such skew, so batches are cut where the skew would arise.
    """
    with_faults = [c for c in cases if c.experiment.faults]
    failures_only = [c for c in cases if not c.experiment.faults]
    return [batch for batch in (failures_only, with_faults) if batch]


def predict(loaded: LoadedExperiment, sandbox: Any) -> dict[str, Any]:
    """What the Istio/Envoy semantics predict for each hypothesis (by name), against the live mesh."""
    from harness.lint import MeshOptions, read_mesh

    try:
        from harness.predict import predict_experiment
    except ImportError:  # harness predict has not landed: every row is "not predicted"
        return {}
    snapshot = read_mesh("sandbox", NAMESPACE, MeshOptions(state_dir=sandbox.state_dir))
    return {p.hypothesis: p for p in predict_experiment(loaded, snapshot)}


def compare(loaded: LoadedExperiment, verdicts: Sequence[Any], predictions: dict[str, Any],
            titles: dict[str, str], confidence: float) -> list[Case]:
    by_name = {v.name: v for v in verdicts}
    rows = []
    for h in loaded.experiment.hypotheses:
        configuration = h.name.split(" ", 1)[0]
        rows.append(judge_case(configuration, titles.get(configuration, ""), h, by_name.get(h.name),
                               predictions.get(h.name), confidence))
    return rows


def judge_case(configuration: str, title: str, h: Any, verdict: Any, prediction: Any, confidence: float) -> Case:
    value, low, high = _predicted(prediction)
    observed, interval, missing = observation(h.measure, verdict, confidence)
    common = {"configuration": configuration, "title": title, "hypothesis": h.name, "measure": h.measure,
              "predicted": value, "predicted_range": (low, high) if low is not None and high is not None else None,
              "observed": observed, "interval": interval}
    if value is None and low is None:
        why = getattr(prediction, "reason", "") if prediction is not None else "no prediction for this hypothesis"
        return Case(**common, status="not predicted", note=why)
    if interval is None:
        return Case(**common, status="not observed", note=missing)
    lo = low if low is not None else value
    hi = high if high is not None else value
    ok = agreement(h.measure, (lo, hi), interval)  # type: ignore[arg-type]
    return Case(**common, status="agree" if ok else "disagree")


def _predicted(prediction: Any) -> tuple[float | None, float | None, float | None]:
    if prediction is None:
        return None, None, None
    return prediction.value, getattr(prediction, "low", None), getattr(prediction, "high", None)


def observation(measure: str, verdict: Any, confidence: float) -> tuple[float | None, tuple[float, float] | None, str]:
    """The observed value and its interval by the agreement rule; no interval means "not observed" (and why)."""
    if verdict is None:
        return None, None, "the run judged no such hypothesis"
    if verdict.value is None or verdict.interval is None:
        return verdict.value, None, verdict.reason
    if measure in ENVOY_COUNTERS:
        return verdict.value, poisson_interval(int(round(verdict.value)), confidence), ""
    if verdict.samples < MIN_REQUESTS:
        return verdict.value, None, f"{verdict.samples} requests (fewer than {MIN_REQUESTS})"
    return verdict.value, (float(verdict.interval[0]), float(verdict.interval[1])), ""


def agreement(measure: str, predicted: tuple[float, float], observed: tuple[float, float]) -> bool:
    """The matrix's one agreement rule (module docstring): the predicted range meets the observed interval."""
    low, high = predicted
    if measure.startswith("latency_"):
        high += LATENCY_OVERHEAD_MS
    return low <= observed[1] + ROUNDING and observed[0] - ROUNDING <= high


def poisson_interval(count: int, confidence: float) -> tuple[float, float]:
    """Exact (Garwood) interval of a Poisson mean from one observed count."""
    from scipy.stats import chi2

    alpha = 1 - confidence
    low = 0.0 if count == 0 else float(chi2.ppf(alpha / 2, 2 * count) / 2)
    return low, float(chi2.ppf(1 - alpha / 2, 2 * count + 2) / 2)


def render(result: MatrixResult) -> str:
    """The table (configuration, measure, predicted, observed [interval], agree?) and the agreement share."""
    lines = [f"{'configuration':<13} {'measure':<17} {'predicted':>17}  {'observed [interval]':<30} agree?"]
    for c in result.cases:
        lines.append(f"{c.configuration:<13} {_measure(c):<17} {_fmt_prediction(c):>17}  {_fmt_observed(c):<30} "
                     f"{_verdict_word(c)}")
    lines.append("")
    for c in result.cases:
        if c.status != "agree":
            note = KNOWN.get(c.hypothesis, c.note) if c.status == "disagree" else c.note
            lines.append(f"{c.hypothesis}: {c.status}{': ' + note if note else ''}")
    share = f"{len(result.agreed)}/{len(result.judged)}"
    known = sum(c.status == "disagree" and c.hypothesis in KNOWN for c in result.cases)
    lines.append(f"agreement: {share} judged hypotheses agree, over {result.configurations} configurations "
                 f"({len(result.cases)} hypotheses; {len(result.cases) - len(result.judged)} not judged; each "
                 f"interval at {result.confidence:.3%}, {FAMILY_ERROR:.0%} family-wise); {known} known disagreement(s) "
                 f"explained in docs/prediction-matrix.md, {len(result.judged) - len(result.agreed) - known} unexplained")
    lines.append(f"wall time: {result.wall_s:.1f} s")
    return "\n".join(lines)


def _measure(c: Case) -> str:
    flag = c.hypothesis.rsplit(" ", 1)[-1] if c.measure == "flag_rate" else ""
    return f"{c.measure} {flag}".strip()


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"


def _fmt_prediction(c: Case) -> str:
    if c.predicted_range is not None:
        return f"{_fmt(c.predicted)} [{_fmt(c.predicted_range[0])}, {_fmt(c.predicted_range[1])}]"
    return _fmt(c.predicted)


def _fmt_observed(c: Case) -> str:
    if c.interval is None:
        return _fmt(c.observed)
    return f"{_fmt(c.observed)} [{_fmt(c.interval[0])}, {_fmt(c.interval[1])}]"


def _verdict_word(c: Case) -> str:
    if c.status == "disagree" and c.hypothesis in KNOWN:
        return "NO (known)"
    return {"agree": "yes", "disagree": "NO"}.get(c.status, c.status)
