"""The notify: block and a suite's --notify-config file: defaults, and errors located at the field."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.errors import ExperimentError
from harness.experiment import EVENT_NAMES, Notify, load_experiment_text, load_notify_config

HEAD = """apiVersion: harness/v1
kind: Experiment
metadata: {name: x}
faults: [{host: reviews, abort: {httpStatus: 503}}]
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ExperimentError) as caught:
        load_experiment_text(HEAD + text)
    return [str(p) for p in caught.value.problems]


def test_no_notify_block_means_no_receivers() -> None:
    (loaded,) = load_experiment_text(HEAD)
    assert loaded.experiment.notify.is_empty()


def test_receivers_and_their_defaults() -> None:
    (loaded,) = load_experiment_text(HEAD + """notify:
  webhooks: [{url: "https://hooks.example/chaos", tokenEnv: HOOK_TOKEN}]
  slack: [{urlEnv: SLACK_WEBHOOK_URL}]
  grafana: [{url: "http://grafana:3000", tokenEnv: GRAFANA_TOKEN, dashboardUid: shop, panelId: 2}]
""")
    notify = loaded.experiment.notify
    assert notify.webhooks[0].events == list(EVENT_NAMES) and notify.webhooks[0].token_env == "HOOK_TOKEN"
    assert notify.slack[0].events == ["run_finished"] and notify.slack[0].url is None
    assert (notify.grafana[0].tags, notify.grafana[0].dashboard_uid, notify.grafana[0].panel_id) == (["chaos"], "shop", 2)


@pytest.mark.parametrize(("block", "expected"), [
    ("  webhooks:\n    - url: http://h/x\n      token: abc\n",
     "<input>:8:7: notify.webhooks[0].token: secrets do not belong in the YAML"),
    ("  grafana:\n    - {url: grafana:3000}\n", "<input>:7:8: notify.grafana[0].url: expected an http:// or https:// URL"),
    ("  slack:\n    - {url: 'http://h', urlEnv: SLACK}\n", "<input>:7:7: notify.slack[0]: set exactly one of url or urlEnv"),
    ("  slack:\n    - {}\n", "<input>:7:7: notify.slack[0]: set exactly one of url or urlEnv"),
    ("  grafana:\n    - {url: 'http://g', tokenEnv: glsa_abc-123}\n",
     "<input>:7:25: notify.grafana[0].tokenEnv: expected the name of an environment variable"),
    ("  webhooks:\n    - {url: 'http://h', events: [fault_start]}\n",
     "<input>:7:34: notify.webhooks[0].events[0]: Input should be 'run_started'"),
    ("  pagerduty: []\n", "<input>:6:3: notify.pagerduty: unknown field"),
])
def test_errors_name_the_line_and_field(block: str, expected: str) -> None:
    assert any(p.startswith(expected) for p in problems("notify:\n" + block)), problems("notify:\n" + block)


def test_a_suite_file_holds_the_same_keys(tmp_path: Path) -> None:
    path = tmp_path / "notify.yaml"
    path.write_text("webhooks: [{url: 'http://127.0.0.1:9/hook'}]\ngrafana: [{urlEnv: GRAFANA_URL}]\n")
    assert load_notify_config(path) == Notify.model_validate(
        {"webhooks": [{"url": "http://127.0.0.1:9/hook"}], "grafana": [{"urlEnv": "GRAFANA_URL"}]})


def test_a_suite_file_error_names_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "notify.yaml"
    path.write_text("slack:\n  - url: https://hooks.slack.com/x\n    token: xoxb\n")
    with pytest.raises(ExperimentError) as caught:
        load_notify_config(path)
    assert str(caught.value.problems[0]).startswith(f"{path}:3:5: slack[0].token: secrets do not belong in the YAML")
    path.write_text("- webhooks: []\n")
    with pytest.raises(ExperimentError, match="expected one YAML mapping"):
        load_notify_config(path)


def test_a_suite_adds_its_receivers_to_the_experiment_s() -> None:
    own = Notify.model_validate({"webhooks": [{"url": "http://a"}]})
    suite = Notify.model_validate({"webhooks": [{"url": "http://b"}], "slack": [{"url": "http://c"}]})
    joined = own.joined(suite)
    assert [w.url for w in joined.webhooks] == ["http://a", "http://b"] and len(joined.slack) == 1
    assert own.joined(None) is own
