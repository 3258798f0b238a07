"""Every error the harness raises on purpose, in one tree.

    HarnessError
    ├── InputError                 bad user input: names the file, line, column and field
    │   ├── ExperimentError
    │   └── MeshConfigError        topology or Istio YAML the sandbox cannot accept
    ├── BackendError
    │   ├── TransientBackendError  an API error worth retrying (5xx, timeouts, connection resets)
    │   ├── KubernetesError
    │   ├── ConfigRejectedError    Envoy (or the API server) refused a change; the old one still serves
    │   ├── ConflictError          the object changed since it was read (resourceVersion), or exists
    │   ├── NotFoundError
    │   └── SandboxError
    │       ├── SandboxNotRunning
    │       ├── ProcessStartError
    │       ├── ProcessExitedError
    │       └── ReadinessTimeout
    ├── LoadError
    ├── MetricsError
    │   ├── QueryError
    │   └── NoDataError
    ├── ReportError
    ├── AlertsError                Alertmanager could not be asked (unreachable, refused, an answer not understood)
    └── NotifyError                a notification receiver failed: noted in the run, never fails it

Every error carries a one-line message and, where it helps, a ``hint`` that tells the user what
to do next. The CLI prints both and never a traceback.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


class HarnessError(Exception):
    """Base of every error the harness raises deliberately."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


@dataclass(frozen=True)
class Location:
    """Where in a user's file something is: 1-based line and column."""

    path: Path | None
    line: int | None = None
    column: int | None = None

    def __str__(self) -> str:
        where = str(self.path) if self.path else "<input>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where


@dataclass(frozen=True)
class Problem:
    """One finding in a user's file: an error or a warning at a field."""

    location: Location
    field: str
    message: str
    hint: str | None = None

    def __str__(self) -> str:
        text = f"{self.location}: {self.field}: {self.message}" if self.field else f"{self.location}: {self.message}"
        return text if not self.hint else f"{text} (hint: {self.hint})"


class InputError(HarnessError):
    """User input is invalid; ``problems`` lists each finding with its place."""

    def __init__(self, summary: str, problems: list[Problem], *, hint: str | None = None) -> None:
        details = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{summary}\n{details}" if problems else summary, hint=hint)
        self.problems = problems


class ExperimentError(InputError):
    """An experiment file is invalid."""


class MeshConfigError(InputError):
    """A topology file or Istio resource cannot be used."""


class BackendError(HarnessError):
    """The place where config is applied (cluster or sandbox) failed."""


class TransientBackendError(BackendError):
    """A failure that may pass: retried with backoff."""


class KubernetesError(BackendError):
    """The Kubernetes API answered with an error."""


class ForbiddenError(KubernetesError):
    """The API server's RBAC refused the request (403)."""


class ConfigRejectedError(BackendError):
    """A config change was refused; the previous config keeps serving."""


class ConflictError(BackendError):
    """A write lost a race: the object changed since it was read, or already exists."""


class NotFoundError(BackendError):
    """The object does not exist."""


class SandboxError(BackendError):
    """The embedded sandbox could not do what was asked."""


class SandboxNotRunning(SandboxError):
    """No sandbox runs in the given state folder."""


class ProcessStartError(SandboxError):
    """A child process could not be started."""


class ProcessExitedError(SandboxError):
    """A child process exited while it was expected to run."""


class ReadinessTimeout(SandboxError):
    """A child process did not become ready in time."""


class LoadError(HarnessError):
    """The load generator failed or was misconfigured."""


class MetricsError(HarnessError):
    """Metrics could not be obtained."""


class QueryError(MetricsError):
    """A Prometheus query failed."""


class NoDataError(MetricsError):
    """A query returned no data."""


class ReportError(HarnessError):
    """A report could not be written or read."""


class AlertsError(HarnessError):
    """Alertmanager did not answer, refused the query, or answered something that is not its v2 API."""


class NotifyError(HarnessError):
    """A webhook, Slack or Grafana receiver did not take a notification; the run notes it and goes on."""
