"""Know before you break: Istio-aware findings about an experiment, its policies and the mesh it will touch.

Each finding has a stable code (``RULES``), a severity, the experiment field involved, the live object
involved, the Istio/Envoy semantics behind it (cited from the semantics reference) and a fix.

The mesh view and the per-hop estimates are also what ``harness predict`` (harness/predict) reasons with.
"""

from harness.lint._estimates import (
    PROPAGATED_STATUS,
    Cohort,
    Failing,
    cohorts_of,
    failing_in,
    outlier_for,
    routes_along,
    units_of,
)
from harness.lint._findings import ExperimentLint, Finding, LintReport, Rule, Severity
from harness.lint._lint import lint_experiment, lint_paths, policies_of
from harness.lint._render import render_brief, render_json, render_sarif, render_text, rules_table
from harness.lint._rules import RULES
from harness.lint._sources import MeshOptions, MeshSnapshot, demo_mesh, read_backend_mesh, read_mesh
from harness.lint._traffic import Call, Chain, Hop
from harness.lint._view import MeshView, build_view

__all__ = [
    "RULES", "ExperimentLint", "Finding", "LintReport", "MeshOptions", "MeshSnapshot", "Rule", "Severity", "demo_mesh",
    "lint_experiment", "lint_paths", "read_backend_mesh", "read_mesh", "render_brief", "render_json", "render_sarif",
    "render_text", "rules_table",
    # shared with harness predict: the fault phase's mesh and the estimates along its call chains
    "PROPAGATED_STATUS", "Call", "Chain", "Cohort", "Failing", "Hop", "MeshView", "build_view", "cohorts_of",
    "failing_in", "outlier_for", "policies_of", "routes_along", "units_of",
]
