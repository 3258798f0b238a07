"""JSON as the Go API server hands it back: numbers, nulls and YAML scalars as Go decodes them."""

from __future__ import annotations

import math
from typing import Any

import yaml


class _GoYamlLoader(yaml.SafeLoader):
    """YAML 1.1 minus timestamps: sigs.k8s.io/yaml turns YAML into JSON, where a date is just a string."""


_GoYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def load_yaml(text: bytes | str) -> Any:
    """Parse one YAML (or JSON) document the way sigs.k8s.io/yaml does for an apply patch."""
    return yaml.load(text, Loader=_GoYamlLoader)  # noqa: S506 - a SafeLoader subclass


def normalize(value: Any, *, drop_nulls: bool = False) -> Any:
    """Return ``value`` as the Go server would encode it after decoding.

    Unstructured JSON decodes a number into int64 when it parses as one, else float64, and Go's encoder
    writes a float64 with an integral value without a fraction: ``1.0`` comes back as ``1``
    (k8s.io/apimachinery/pkg/util/json, encoding/json float encoding). With ``drop_nulls`` map entries
    that are null go, as the structural-schema pruning of non-nullable fields does for custom resources
    (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#defaulting-and-nullable).
    """
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value.is_integer() and abs(value) < 2**63 else value
    if isinstance(value, dict):
        return {str(k): normalize(v, drop_nulls=drop_nulls) for k, v in value.items()
                if not (drop_nulls and v is None)}
    if isinstance(value, list):
        return [normalize(v, drop_nulls=drop_nulls) for v in value]
    return str(value)
