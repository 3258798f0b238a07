"""The harness's exit codes, in one table (CI systems key on these)."""

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0               # every hypothesis passed / the command did what was asked
    FAILED = 1           # a hypothesis failed (or: the thing asked about is not running)
    INVALID = 2          # invalid input, or a failed preflight / backend error
    ABORTED = 3          # a guardrail stopped the experiment
    INCONCLUSIVE = 4     # nothing failed, but some verdicts are inconclusive
    INTERRUPTED = 130    # Ctrl-C / SIGTERM / SIGHUP; the run's error says whether everything was reverted
