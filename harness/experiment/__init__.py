"""Experiment definitions: the pydantic model and YAML loading with located errors."""

from harness.experiment._guardrails import AlertGuardrail, Matcher
from harness.experiment._load import LoadedExperiment, load_experiment_text, load_experiments
from harness.experiment._model import (
    ENVOY_COUNTERS,
    RUN_HEADER,
    Experiment,
    Failure,
    Fault,
    Hypothesis,
    Load,
    Phases,
    Scope,
)
from harness.experiment._notify import (
    EVENT_NAMES,
    GrafanaReceiver,
    Notify,
    SlackReceiver,
    WebhookReceiver,
    load_notify_config,
)
from harness.experiment._windows import judged_part_s

__all__ = [
    "ENVOY_COUNTERS", "EVENT_NAMES", "RUN_HEADER", "AlertGuardrail", "Experiment", "Failure", "Fault", "GrafanaReceiver",
    "Hypothesis", "Load", "LoadedExperiment", "Matcher", "Notify", "Phases", "Scope", "SlackReceiver", "WebhookReceiver",
    "judged_part_s", "load_experiment_text", "load_experiments", "load_notify_config",
]
