"""Istio / protobuf durations ("1s", "500ms", "1m30s") to seconds and to Envoy's JSON form."""

from __future__ import annotations

import re

_UNIT_S = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|µs|ns|h|m|s)")


def parse_duration_s(text: str) -> float:
    """Parse a Go/protobuf duration string into seconds; raise ValueError with a clear message."""
    value = text.strip()
    if not value:
        raise ValueError("empty duration")
    position, total = 0, 0.0
    for match in _PART.finditer(value):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNIT_S[match.group(2)]
        position = match.end()
    if position != len(value):
        raise ValueError(f"invalid duration {text!r}: use a number with a unit, e.g. '1s', '250ms', '1m30s'")
    return total


def envoy_duration(seconds: float) -> str:
    """Render seconds as Envoy's JSON duration ("0.250s"), exact to the nanosecond."""
    nanos = round(seconds * 1e9)
    whole, frac = divmod(nanos, 1_000_000_000)
    return f"{whole}s" if frac == 0 else f"{whole}.{frac:09d}".rstrip("0") + "s"
