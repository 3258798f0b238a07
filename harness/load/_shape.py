"""Load shapes as a pure function of time (used inside the Locust process, tested outside it)."""

from __future__ import annotations

from typing import Any


def users_at(shape: dict[str, Any], base_users: int, elapsed_s: float) -> int:
    """How many users the configured shape wants ``elapsed_s`` into the run."""
    if shape.get("kind") == "steps":
        passed = 0.0
        for step in shape["steps"]:
            passed += step["duration_s"]
            if elapsed_s < passed:
                return int(step["users"])
        return int(shape["steps"][-1]["users"])
    if shape.get("kind") == "spike" and shape["spike_at_s"] <= elapsed_s < shape["spike_at_s"] + shape["spike_s"]:
        return int(shape["spike_users"])
    return base_users
