"""Experiment definitions: the pydantic model and YAML loading with located errors."""

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

__all__ = [
    "ENVOY_COUNTERS", "RUN_HEADER", "Experiment", "Failure", "Fault", "Hypothesis", "Load", "LoadedExperiment",
    "Phases", "Scope", "load_experiment_text", "load_experiments",
]
