"""Done when: `harness lint experiments/sandbox/` names why each intentionally failing example fails, before
running it, and the correct examples have no error finding (no sandbox running: the demo mesh)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from harness.cli import app
from tests.lint.conftest import EXAMPLES

EXPECTED_ERRORS = {
    "same-route-timeout-fails": ["HL101"],   # the delay sits on the route whose timeout the hypothesis relies on
    "retries-off-fails": ["HL103"],          # retries off and no outlier detection: the flaky replica shows
}


def test_lint_names_why_the_failing_examples_fail(tmp_path: Path) -> None:
    sarif = tmp_path / "lint.sarif"
    result = CliRunner().invoke(app, ["lint", str(EXAMPLES), "--json", "--sarif", str(sarif),
                                      "--state-dir", str(tmp_path / "no-sandbox")])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    errors = {e["name"]: sorted(f["code"] for f in e["findings"] if f["severity"] == "error")
              for e in report["experiments"]}
    assert len(errors) == 7
    assert {name: codes for name, codes in errors.items() if codes} == EXPECTED_ERRORS
    for item in report["experiments"]:
        assert "demo mesh" in item["mesh"]
    log = json.loads(sarif.read_text())
    assert sorted(r["ruleId"] for r in log["runs"][0]["results"] if r["level"] == "error") == ["HL101", "HL103"]


def test_lint_text_output_gives_file_line_code_why_and_fix(tmp_path: Path) -> None:
    path = EXAMPLES / "03-same-route-timeout-FAILS.yaml"
    result = CliRunner().invoke(app, ["lint", str(path), "--state-dir", str(tmp_path)])
    assert result.exit_code == 1
    output = " ".join(result.output.split())
    assert "03-same-route-timeout-FAILS.yaml:15:5: HL101 error:" in output
    assert "object: VirtualService shop/productcatalog http[0] (productcatalog): timeout 2s" in output
    assert "why: Envoy's fault filter runs before the router" in output
    assert "§A.7 point 1: ../shared/reference/istio-envoy-semantics.md#a7-" in output
    assert "fix: put the delay on the next hop" in output


def test_a_correct_example_exits_0(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["lint", str(EXAMPLES / "02-timeout-protects-frontend.yaml"),
                                      "--state-dir", str(tmp_path)])
    assert result.exit_code == 0, result.output


def test_bad_input_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: harness/v1\nkind: Experiment\nmetadata: {name: x}\nfaults: [{host: cart}]\n")
    assert CliRunner().invoke(app, ["lint", str(bad)]).exit_code == 2
    good = EXAMPLES / "01-run-scoped-abort.yaml"
    result = CliRunner().invoke(app, ["lint", str(good), "--backend", "docker"])
    assert result.exit_code == 2 and "unknown backend 'docker'" in result.output


def test_a_broken_policy_file_is_bad_input(tmp_path: Path) -> None:
    (tmp_path / "dr.yaml").write_text("apiVersion: networking.istio.io/v1\nkind: DestinationRule\n"
                                      "metadata: {name: cart, namespace: shop}\nspec: {hots: cart}\n")
    exp = tmp_path / "exp.yaml"
    exp.write_text("apiVersion: harness/v1\nkind: Experiment\nmetadata: {name: x}\ntarget: {namespace: shop}\n"
                   "policies: [dr.yaml]\nfailures: [{service: cart, latencyMs: 10}]\n")
    result = CliRunner().invoke(app, ["lint", str(exp), "--state-dir", str(tmp_path / "none")])
    assert result.exit_code == 2 and "dr.yaml:4" in result.output


def test_no_cluster_reachable_says_what_was_not_checked(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
                          "users: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\n"
                          "current-context: x\n")
    result = CliRunner().invoke(app, ["lint", str(EXAMPLES / "01-run-scoped-abort.yaml"), "--json",
                                      "--backend", "kubernetes", "--kubeconfig", str(kubeconfig)])
    assert result.exit_code == 0, result.output
    (item,) = json.loads(result.output)["experiments"]
    assert item["findings"] == []  # nothing live to contradict; a missing VirtualService is not claimed
    assert any("no cluster reachable" in note for note in item["notes"])


def test_the_readmes_example_output_is_what_lint_prints(tmp_path: Path) -> None:
    readme = (EXAMPLES.parents[1] / "README.md").read_text()
    result = CliRunner().invoke(app, ["lint", str(EXAMPLES / "03-same-route-timeout-FAILS.yaml"),
                                      str(EXAMPLES / "05-retries-off-FAILS.yaml"), "--state-dir", str(tmp_path)],
                                terminal_width=1000)
    printed = [line for line in result.output.splitlines() if " error: " in line or line.startswith("    ")]
    assert len(printed) == 8 and all(line in readme for line in printed)
