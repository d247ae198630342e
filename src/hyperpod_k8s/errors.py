"""One error tree for the whole tool: a message, a hint saying what to do, and an exit code.

Everything below the CLI and the TUI raises these; the CLI prints ``error: <message> (<hint>)`` on
one line to stderr and exits with ``exit_code``. The exit codes are part of the interface that
scripts rely on, and are documented in the README.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    INTERNAL = 1  # a bug: an exception we did not expect (traceback with -v)
    USAGE = 2  # bad flags, bad configuration or input files
    NOT_FOUND = 3  # unknown node, cluster, instance, secret
    AUTH = 4  # missing or expired credentials, AccessDenied / Forbidden
    UNAVAILABLE = 5  # API unreachable, throttled or failing after all retries
    INCOMPLETE = 6  # data could only be read in part; nothing destructive was done
    TIMEOUT = 7  # a wait ran out of time
    DECLINED = 8  # the operator said no, or a confirmation was needed and no terminal was there
    CONFLICT = 9  # the request contradicts the cluster's state (e.g. deleting the control plane)
    STEP_FAILED = 12  # a bootstrap step's command failed after its retries; a re-run resumes there


class HpkError(Exception):
    """Base of every error the tool reports on purpose."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def one_line(self) -> str:
        text = " ".join(self.message.split())
        if self.hint:
            text += f" ({' '.join(self.hint.split())})"
        return text

    def __str__(self) -> str:
        return self.one_line()


class ConfigError(HpkError):
    exit_code = ExitCode.USAGE


class NotFoundError(HpkError):
    exit_code = ExitCode.NOT_FOUND


class AuthError(HpkError):
    exit_code = ExitCode.AUTH


class UnavailableError(HpkError):
    """The service did not answer usefully: connection refused, 5xx or throttling after retries."""

    exit_code = ExitCode.UNAVAILABLE


class TransientError(UnavailableError):
    """A failure worth retrying (throttling, 5xx, connection reset). Raised out only when retries ran out."""


class IncompleteError(HpkError):
    exit_code = ExitCode.INCOMPLETE


class TimeoutExpired(HpkError):
    exit_code = ExitCode.TIMEOUT


class Declined(HpkError):
    exit_code = ExitCode.DECLINED


class ConflictError(HpkError):
    exit_code = ExitCode.CONFLICT


class ApiError(HpkError):
    """A non-transient API failure that fits no narrower class (e.g. a 400 or 422)."""

    exit_code = ExitCode.UNAVAILABLE
