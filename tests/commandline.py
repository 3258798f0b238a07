"""Command lines as the ``harness`` CLI parses them, for tests of commands written down elsewhere
(the README's CI snippets, the CronJobs in deploy/)."""

from __future__ import annotations

from typing import Any

import typer

from harness.cli import app


def parse_harness(argv: list[str]) -> dict[str, Any]:
    """The parameters of ``harness ARGV...``; an unknown command or option raises the CLI's usage error."""
    command = typer.main.get_command(app).commands[argv[0]]  # type: ignore[attr-defined]
    return dict(command.make_context(argv[0], argv[1:]).params)
