"""Text for people, JSON for scripts, SARIF 2.1.0 for CI annotations."""

from __future__ import annotations

import json

from harness.lint import RULES, LintReport, render_json, render_sarif, render_text
from tests.lint.conftest import lint_example


def report() -> LintReport:
    return LintReport((lint_example("03-same-route-timeout-FAILS.yaml"), lint_example("05-retries-off-FAILS.yaml"),
                       lint_example("06-outlier-detection-ejects.yaml")))


def test_text_groups_findings_per_experiment_and_ends_with_a_summary() -> None:
    text = render_text(report())
    blocks = text.split("\n\n")
    assert [b.splitlines()[0].split(" ")[1] for b in blocks[:3]] == [
        "same-route-timeout-fails", "retries-off-fails", "outlier-detection-ejects"]
    assert "05-retries-off-FAILS.yaml:21:5: HL103 error:" in blocks[1]
    assert "(experiments/sandbox/policies/productcatalog-no-retries.yaml:13:7)" in blocks[1]
    assert blocks[-1] == "3 experiments: 2 error(s), 0 warning(s), 1 info"


def test_json_has_every_field_of_a_finding() -> None:
    data = json.loads(render_json(report()))
    finding = data["experiments"][1]["findings"][0]
    assert finding["code"] == "HL103" and finding["rule"] == "retries-off" and finding["severity"] == "error"
    assert (finding["file"], finding["line"], finding["field"]) == (
        "experiments/sandbox/05-retries-off-FAILS.yaml", 21, "hypotheses[0].below")
    assert finding["object_location"]["file"].endswith("productcatalog-no-retries.yaml")
    assert finding["why"] and finding["reference"].startswith("§A.4: ") and finding["fix"]
    assert data["summary"] == {"error": 2, "warning": 0, "info": 1}


def test_sarif_is_a_minimal_valid_2_1_0_log() -> None:
    log = render_sarif(report())
    assert log["version"] == "2.1.0" and log["$schema"].endswith("sarif-2.1.0.json")
    (run,) = log["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == list(RULES)
    assert all(r["shortDescription"]["text"] and r["defaultConfiguration"]["level"] in ("error", "warning", "note")
               for r in rules)
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels == {"HL101": "error", "HL103": "error", "HL502": "note"}
    for result in run["results"]:
        assert rules[result["ruleIndex"]]["id"] == result["ruleId"]
        assert result["message"]["text"]
        (location,) = result["locations"]
        physical = location["physicalLocation"]
        assert physical["artifactLocation"]["uri"].startswith("experiments/sandbox/")
        assert physical["region"]["startLine"] >= 1
    hl103 = next(r for r in run["results"] if r["ruleId"] == "HL103")
    related = hl103["relatedLocations"][0]["physicalLocation"]
    assert related["artifactLocation"]["uri"] == "experiments/sandbox/policies/productcatalog-no-retries.yaml"
    json.dumps(log)  # plain JSON all the way down
