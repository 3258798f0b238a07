"""The Alertmanager client against a real Alertmanager: what counts as firing, matchers, and its failures."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator

import pytest

from harness.alerts import Alertmanager, judge_alert, refuse_if_firing
from harness.errors import AlertsError, HarnessError
from harness.experiment import AlertGuardrail, Matcher
from harness.verdict import Outcome
from tests.alerts.conftest import RunningAlertmanager, needs_alertmanager

pytestmark = needs_alertmanager
BURN = {"alertname": "FrontendErrorBudgetBurn", "severity": "critical", "team": "shop"}


def guardrail(**alert: str) -> AlertGuardrail:
    return AlertGuardrail(name="frontend burning", alert=alert)


def test_a_firing_alert_is_found_with_its_labels_start_and_summary(quiet: RunningAlertmanager) -> None:
    quiet.fire(BURN, summary="frontend answers 45% with 5xx")
    (alert,) = Alertmanager(quiet.url).firing(guardrail(alertname="FrontendErrorBudgetBurn").matchers)
    assert dict(alert.labels) == BURN
    assert alert.annotations["summary"] == "frontend answers 45% with 5xx"
    assert alert.starts_at.endswith("Z") and alert.fingerprint
    assert alert.describe() == (f'FrontendErrorBudgetBurn{{severity="critical", team="shop"}} firing since '
                                f"{alert.starts_at}: frontend answers 45% with 5xx")


@pytest.mark.parametrize(("alert", "found"), [
    ({"alertname": "FrontendErrorBudgetBurn"}, True),
    ({"alertname": "FrontendErrorBudgetBurn", "severity": "critical"}, True),
    ({"alertname": "FrontendErrorBudgetBurn", "severity": "warning"}, False),
    ({"alertname": "OtherAlert"}, False),
    ({"alertname": "=~Frontend.*", "severity": "=~critical|page"}, True),
    ({"alertname": "=~Frontend"}, False),  # anchored, as in Alertmanager
    ({"alertname": "FrontendErrorBudgetBurn", "severity": "!=critical"}, False),
    ({"alertname": "FrontendErrorBudgetBurn", "team": "!~pay.*"}, True),
    ({"alertname": "FrontendErrorBudgetBurn", "cluster": ""}, True),  # a label it does not have equals ""
])
def test_matchers_select_as_alertmanagers_own_filter_does(quiet: RunningAlertmanager, alert: dict[str, str],
                                                          found: bool) -> None:
    quiet.fire(BURN)
    matchers = guardrail(**alert).matchers
    assert bool(Alertmanager(quiet.url).firing(matchers)) is found
    assert all(m.matches(BURN) for m in matchers) is found  # the client's own check agrees with Alertmanager's


def test_silenced_and_resolved_alerts_do_not_count(quiet: RunningAlertmanager) -> None:
    client = Alertmanager(quiet.url)
    quiet.fire(BURN)
    quiet.silence({"alertname": "FrontendErrorBudgetBurn"})
    assert client.firing([Matcher("alertname", "=", "FrontendErrorBudgetBurn")]) == []
    quiet.fire({"alertname": "CartDown"})
    assert client.firing([Matcher("alertname", "=", "CartDown")])
    quiet.resolve({"alertname": "CartDown"})
    assert client.firing([Matcher("alertname", "=", "CartDown")]) == []


def test_label_values_with_quotes_and_backslashes_are_escaped_in_the_filter(quiet: RunningAlertmanager) -> None:
    odd = {"alertname": "Odd", "path": 'C:\\shop "main"'}
    quiet.fire(odd)
    assert Alertmanager(quiet.url).firing(guardrail(**odd).matchers)


def test_check_returns_the_version(alertmanager: RunningAlertmanager) -> None:
    assert Alertmanager(alertmanager.url).check().count(".") >= 1


def test_an_unreachable_alertmanager_is_an_alerts_error_with_a_hint(closed_url: str) -> None:
    with pytest.raises(AlertsError, match="cannot be reached") as caught:
        Alertmanager(closed_url).firing([Matcher("alertname", "=", "X")])
    assert "--alertmanager-url" in str(caught.value.hint)


@pytest.fixture
def silent_server() -> Iterator[str]:
    """Accepts connections and never answers."""
    server = socket.create_server(("127.0.0.1", 0))
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_hanging_alertmanager_times_out(silent_server: str) -> None:
    started = time.monotonic()
    with pytest.raises(AlertsError, match="no answer within 0.3 s"):
        Alertmanager(silent_server, timeout_s=0.3).check()
    assert time.monotonic() - started < 2


def test_something_that_is_not_alertmanager_is_told_apart(gateway_stub: str) -> None:
    with pytest.raises(AlertsError, match="answered 501"):
        Alertmanager(gateway_stub).firing([Matcher("alertname", "=", "X")])


def test_judge_fails_naming_the_alert_passes_when_quiet(quiet: RunningAlertmanager) -> None:
    client = Alertmanager(quiet.url)
    rail = guardrail(alertname="FrontendErrorBudgetBurn", severity="critical")
    assert judge_alert(rail, client).outcome is Outcome.PASS
    quiet.fire(BURN, summary="burning")
    verdict = judge_alert(rail, client)
    assert verdict.outcome is Outcome.FAIL and verdict.name == "frontend burning"
    assert "FrontendErrorBudgetBurn" in verdict.reason and "burning" in verdict.reason and "since 20" in verdict.reason
    assert verdict.details["alerts"][0]["labels"] == BURN
    assert verdict.bound == 'no alert firing matching {alertname="FrontendErrorBudgetBurn", severity="critical"}'


def test_judge_cannot_see_an_unreachable_alertmanager(closed_url: str) -> None:
    verdict = judge_alert(guardrail(alertname="X"), Alertmanager(closed_url))
    assert verdict.outcome is Outcome.INCONCLUSIVE
    assert "fail safe" in verdict.reason and "cannot be reached" in verdict.reason


def test_refuse_if_firing_names_the_alert(quiet: RunningAlertmanager) -> None:
    client = Alertmanager(quiet.url)
    rails = [guardrail(alertname="FrontendErrorBudgetBurn"), guardrail(alertname="CartDown")]
    refuse_if_firing(rails, client, when="at preflight")  # quiet: nothing raised
    quiet.fire(BURN, summary="burning")
    with pytest.raises(HarnessError, match="FrontendErrorBudgetBurn.*burning.*no fault was injected") as caught:
        refuse_if_firing(rails, client, when="at preflight")
    assert "silence it" in str(caught.value.hint)
