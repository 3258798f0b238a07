"""Refuse targets that look like production, and namespaces outside the allow-list."""

from __future__ import annotations

import os
import re

from harness.errors import BackendError

PRODUCTION = re.compile(r"(^|[-_.])(prod|production|prd|live)([-_.]|$)", re.IGNORECASE)
ALLOW_ENV = "HARNESS_ALLOWED_NAMESPACES"


def check_target(namespace: str, context: str | None, *, allowed: list[str] | None = None,
                 allow_production: bool = False) -> None:
    """Raise unless ``namespace`` is allowed and neither it nor the context looks like production."""
    allow_list = allowed if allowed is not None else [n for n in os.environ.get(ALLOW_ENV, "").split(",") if n]
    if allow_list and namespace not in allow_list:
        raise BackendError(f"namespace {namespace!r} is not in the allow-list ({', '.join(allow_list)})",
                           hint=f"add it to {ALLOW_ENV} or --allow-namespace")
    if allow_production:
        return
    for what, value in (("namespace", namespace), ("context", context or "")):
        if PRODUCTION.search(value):
            raise BackendError(f"the {what} {value!r} looks like production; refusing to inject faults",
                               hint="pass --allow-production if this is really what you want")
