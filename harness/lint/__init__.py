"""Know before you break: Istio-aware findings about an experiment, its policies and the mesh it will touch.

Each finding has a stable code (``RULES``), a severity, the experiment field involved, the live object
involved, the Istio/Envoy semantics behind it (cited from the semantics reference) and a fix.
"""

from harness.lint._findings import ExperimentLint, Finding, LintReport, Rule, Severity
from harness.lint._lint import lint_experiment, lint_paths
from harness.lint._render import render_json, render_sarif, render_text, rules_table
from harness.lint._rules import RULES
from harness.lint._sources import MeshOptions, MeshSnapshot, demo_mesh, read_mesh

__all__ = [
    "RULES", "ExperimentLint", "Finding", "LintReport", "MeshOptions", "MeshSnapshot", "Rule", "Severity", "demo_mesh",
    "lint_experiment", "lint_paths", "read_mesh", "render_json", "render_sarif", "render_text", "rules_table",
]
