"""Predict what an experiment will observe: for each hypothesis, the value the Istio/Envoy semantics give (error
rate after retries and aborts, latency after delays and timeouts, ejections from outlier detection, overflows from
connection pools), with the assumptions it rests on. A run shows it beside the observed value and flags a
surprise when the observed interval excludes it."""

from harness.predict._judge import with_prediction
from harness.predict._predict import predict_experiment
from harness.predict._prediction import Prediction
from harness.predict._report import (
           ExperimentPrediction,
           PredictReport,
           predict_paths,
           render_json,
           render_text,
           safely_predicted,
)

__all__ = ["ExperimentPrediction", "PredictReport", "Prediction", "predict_experiment", "predict_paths",
           "render_json", "render_text", "safely_predicted", "with_prediction"]
