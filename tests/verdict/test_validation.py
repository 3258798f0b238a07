"""Hypotheses that cannot be judged honestly are input errors, located at the field that makes them so."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from harness.experiment import Hypothesis
from harness.experiment._model import CLIENT_FLAGS, ENVOY_RESPONSE_FLAGS

LOCUST_SUPPORT = Path(__file__).resolve().parents[2] / "harness" / "load" / "locust_support.py"


def problem(spec: dict[str, Any]) -> tuple[tuple[str | int, ...], str]:
    """The one error validating ``spec`` gives: its location and message."""
    with pytest.raises(ValidationError) as caught:
        Hypothesis.model_validate({"name": "x", **spec})
    (error,) = caught.value.errors()
    return error["loc"], error["msg"]


def test_promql_cannot_be_compared_versus() -> None:
    loc, message = problem({"measure": "promql", "source": "mesh", "query": "sum(up)", "versus": "baseline",
                            "below": 1})
    assert loc == ("versus",) and "measure promql is one value from your query" in message


def test_latency_shift_needs_versus_and_the_client() -> None:
    loc, message = problem({"measure": "latency_shift", "below": 100})
    assert loc == ("measure",) and "set versus: baseline or versus: control" in message
    loc, message = problem({"measure": "latency_shift", "source": "mesh", "service": "cart", "versus": "baseline",
                            "below": 100})
    assert loc == ("source",) and "use source: client" in message
    assert Hypothesis.model_validate({"name": "x", "measure": "latency_shift", "versus": "control",
                                      "cohort": "tagged", "below": 100}).measure == "latency_shift"


def test_a_flag_envoy_does_not_have_lists_envoys_flags() -> None:
    loc, message = problem({"measure": "flag_rate", "flag": "TIMEOUT", "source": "mesh", "service": "cart",
                            "below": 0.1})
    assert loc == ("flag",) and "'TIMEOUT' is not an Envoy response flag" in message
    assert message.endswith(" ".join(ENVOY_RESPONSE_FLAGS))


@pytest.mark.parametrize("flag", ENVOY_RESPONSE_FLAGS)
def test_every_envoy_flag_is_accepted_from_the_mesh(flag: str) -> None:
    h = Hypothesis.model_validate({"name": "x", "measure": "flag_rate", "flag": flag, "source": "mesh",
                                   "service": "cart", "below": 0.1})
    assert h.flag == flag


def test_envoys_flags_are_the_thirty_of_its_access_log_docs() -> None:
    # Envoy 1.40's %RESPONSE_FLAGS% (access_log/usage.rst); the issue's list lacked RFCF, NFCF, DR and UDO
    assert len(ENVOY_RESPONSE_FLAGS) == len(set(ENVOY_RESPONSE_FLAGS)) == 30
    assert {"UH", "UF", "UO", "NR", "URX", "NC", "DT", "DC", "LH", "UT", "LR", "UR", "UC", "DI", "FI", "RL", "UAEX",
            "RLSE", "IH", "SI", "DPE", "UPE", "UMSDR", "OM", "DF", "DO", "RFCF", "NFCF", "DR", "UDO"} == set(
        ENVOY_RESPONSE_FLAGS)


def test_a_flag_the_client_cannot_see_names_what_it_can() -> None:
    loc, message = problem({"measure": "flag_rate", "flag": "DI", "below": 0.1})
    assert loc == ("flag",)
    assert "the client cannot see 'DI' (an Envoy flag: use source: mesh" in message
    assert message.endswith(", ".join(CLIENT_FLAGS))
    loc, message = problem({"measure": "flag_rate", "flag": "ok", "below": 0.1})
    assert "the client cannot see 'ok'; the client classifies" in message


@pytest.mark.parametrize("flag", CLIENT_FLAGS)
def test_every_client_class_is_accepted_from_the_client(flag: str) -> None:
    assert Hypothesis.model_validate({"name": "x", "measure": "flag_rate", "flag": flag, "below": 0.1}).flag == flag


def test_client_flags_are_what_the_load_generator_records() -> None:
    # read, not imported: importing Locust patches the standard library with gevent
    tree = ast.parse(LOCUST_SUPPORT.read_text())
    functions = {node.name: node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}
    returned = {const.value for node in ast.walk(functions["classify"]) if isinstance(node, ast.Return)
                for const in ast.walk(node) if isinstance(const, ast.Constant) and isinstance(const.value, str)}
    recorded = {const.value for const in ast.walk(functions["_outcome_of"])
                if isinstance(const, ast.Constant) and isinstance(const.value, str)}
    assert returned - {"ok"} == set(CLIENT_FLAGS)
    assert recorded == set(CLIENT_FLAGS)


def test_a_flag_on_another_measure_is_an_error() -> None:
    loc, message = problem({"measure": "error_rate", "flag": "UT", "below": 0.1})
    assert loc == ("flag",) and "belongs to measure flag_rate, not error_rate" in message


@pytest.mark.parametrize(("spec", "field", "words"), [
    ({"measure": "error_rate", "relation": "ratio", "below": 2}, "relation", "needs versus"),
    ({"measure": "error_rate", "versus": "baseline", "relation": "ratio", "below": 0}, "relation", "positive"),
    ({"measure": "error_rate", "above": 0.2, "below": 0.1}, "above", "lower than 'below'"),
    ({"measure": "request_rate", "versus": "baseline", "below": 10}, "versus", "not request_rate"),
    ({"measure": "latency_p99", "source": "mesh", "service": "cart", "versus": "baseline", "below": 10}, "source",
     "need the client's samples"),
    ({"measure": "retries", "below": 10}, "source", "use source: mesh"),
    ({"measure": "error_rate", "source": "mesh", "service": "cart", "cohort": "tagged", "below": 0.1}, "cohort",
     "cannot tell cohorts apart"),
])
def test_inconsistent_fields_are_located(spec: dict[str, Any], field: str, words: str) -> None:
    loc, message = problem(spec)
    assert loc == (field,) and words in message


def test_hypothesis_level_errors_keep_their_messages() -> None:
    assert "needs 'below', 'above', or both" in problem({"measure": "error_rate"})[1]
    assert "needs 'flag'" in problem({"measure": "flag_rate", "below": 0.1})[1]
    assert "need 'service'" in problem({"measure": "error_rate", "source": "mesh", "below": 0.1})[1]
