"""Who hears about a run: JSON webhooks, Slack, Grafana annotations (an experiment's ``notify:``, or a suite's file).

Secrets never live in the YAML: a bearer token is named by the environment variable that holds it
(``tokenEnv``), and a URL that is itself the secret (a Slack incoming webhook) may be given the same
way (``urlEnv``). Experiment files end up in git and in every report's journal.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from harness._yamlsource import load_yaml_file, validation_problems
from harness.errors import ExperimentError
from harness.experiment._base import Model

EventName = Literal["run_started", "fault_started", "fault_ended", "verdicts", "run_finished"]
EVENT_NAMES: tuple[EventName, ...] = ("run_started", "fault_started", "fault_ended", "verdicts", "run_finished")


def _http_url(value: str) -> str:
    if not re.match(r"^https?://[^\s/]+", value):
        raise ValueError("expected an http:// or https:// URL")
    return value


def _env_name(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value):
        raise ValueError("expected the name of an environment variable (letters, digits, _), not its value")
    return value


HttpUrl = Annotated[str, AfterValidator(_http_url)]
EnvName = Annotated[str, AfterValidator(_env_name)]
SECRET_KEYS = ("token", "password", "apiKey", "bearer")


def _refuse_secrets(data: Any, owner: str) -> Any:
    """A token written into the YAML is an error at that key, saying where it belongs instead."""
    if isinstance(data, dict):
        for key in SECRET_KEYS:
            if key in data:
                raise ValidationError.from_exception_data(owner, [InitErrorDetails(
                    type=PydanticCustomError("value_error", "secrets do not belong in the YAML (it ends up in git and "
                                             "in every report): put the token in an environment variable and name "
                                             "it with tokenEnv"), loc=(key,), input="***")])
    return data


class _Receiver(Model):
    """An HTTP endpoint: its URL, written out or named by an environment variable."""

    url: HttpUrl | None = None
    url_env: EnvName | None = Field(default=None, description="environment variable holding the URL (for URLs "
                                    "that are secrets, as Slack's incoming webhooks are)")

    @model_validator(mode="before")
    @classmethod
    def _no_secrets(cls, data: Any) -> Any:
        return _refuse_secrets(data, cls.__name__)

    @model_validator(mode="after")
    def _one_url(self) -> _Receiver:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("set exactly one of url or urlEnv")
        return self


class WebhookReceiver(_Receiver):
    """Generic JSON: one POST per event (README: "Notifications and annotations" has the schema)."""

    token_env: EnvName | None = Field(default=None, description="environment variable holding a bearer token")
    events: list[EventName] = Field(default_factory=lambda: list(EVENT_NAMES))


class SlackReceiver(_Receiver):
    """A Slack incoming webhook (or anything speaking its payload): short messages, the verdict first."""

    events: list[EventName] = Field(default_factory=lambda: list(EVENT_NAMES[-1:]),
                                    description="which events post a message (default: the run's end only)")


class GrafanaReceiver(_Receiver):
    """Grafana's annotation API: one region annotation per fault window, opened at activation, closed at revert."""

    token_env: EnvName | None = Field(default=None, description="environment variable holding a Grafana "
                                      "service-account token (Bearer)")
    tags: list[str] = Field(default_factory=lambda: ["chaos"], description="added to the annotation, with the "
                            "experiment's name and run id")
    dashboard_uid: str | None = Field(default=None, description="pin the annotation to one dashboard (default: an "
                                      "organisation-wide annotation, shown where a dashboard queries its tags)")
    panel_id: int | None = Field(default=None, ge=0)


class Notify(Model):
    """Every receiver of one experiment's (or suite's) notifications; none by default."""

    webhooks: list[WebhookReceiver] = Field(default_factory=list)
    slack: list[SlackReceiver] = Field(default_factory=list)
    grafana: list[GrafanaReceiver] = Field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.webhooks or self.slack or self.grafana)

    def joined(self, other: Notify | None) -> Notify:
        """This config's receivers and ``other``'s: a suite's receivers hear every experiment's runs too."""
        if other is None:
            return self
        return Notify(webhooks=[*self.webhooks, *other.webhooks], slack=[*self.slack, *other.slack],
                      grafana=[*self.grafana, *other.grafana])


def load_notify_config(path: Path) -> Notify:
    """A suite's receivers from a YAML file holding what an experiment's ``notify:`` block holds."""
    documents = load_yaml_file(path, ExperimentError)
    if len(documents) != 1 or not isinstance(documents[0].data, dict):
        raise ExperimentError(f"{path}: expected one YAML mapping with webhooks, slack and/or grafana", [],
                              hint="the same keys as an experiment's notify: block")
    (doc,) = documents
    try:
        return Notify.model_validate(doc.data)
    except ValidationError as exc:
        raise ExperimentError("invalid notification config", validation_problems(doc, exc)) from None
