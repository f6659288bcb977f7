"""The exception tree and the exit codes every command maps its outcome to.

Nothing below the CLI calls ``sys.exit``: code raises a ``LeptonError`` subclass and
the one top-level handler in ``cli.py`` turns it into a one-line message and an exit
code. Messages say what failed, on which object, and what to do next.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # done, or nothing to do
    NO = 1  # a "no": gate failed, verification failed, promotion refused
    BAD_INPUT = 2  # bad input or config
    OUTSIDE = 3  # an outside system failed after retries
    INTERRUPTED = 130


class LeptonError(Exception):
    """Base of every error leptonci raises on purpose."""

    exit_code: ExitCode = ExitCode.BAD_INPUT
    retryable: bool = False

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message}; {self.hint}"
        return self.message


class ConfigError(LeptonError):
    """leptonci.yaml, a manifest, a model folder or another input is wrong."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        key: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.file = file
        self.line = line
        self.key = key
        where = ""
        if file:
            where = file if line is None else f"{file}:{line}"
            where += ": "
        at_key = f"{key}: " if key else ""
        super().__init__(f"{where}{at_key}{message}", hint=hint)


class UsageError(LeptonError):
    """A command was called with arguments that cannot work."""

    exit_code = ExitCode.BAD_INPUT


class RefusedError(LeptonError):
    """A "no": a gate failed, a promotion was refused, verification failed."""

    exit_code = ExitCode.NO


class GateFailed(RefusedError):
    pass


class PromotionRefused(RefusedError):
    pass


class VerificationFailed(RefusedError):
    pass


class ConflictError(RefusedError):
    """Someone else changed the same environment meanwhile."""


class OutsideError(LeptonError):
    """An outside system (git remote, registry, cluster, GitHub) failed."""

    exit_code = ExitCode.OUTSIDE


class TransientError(OutsideError):
    """An outside failure that may go away when retried (5xx, timeouts, resets)."""

    retryable = True


class CommandFailed(OutsideError):
    """A subprocess exited non-zero; the message carries command, code and output tail."""


class GitError(OutsideError):
    pass


class PushRejected(GitError):
    """The remote refused a push as non-fast-forward; rebuild the plan and retry."""

    retryable = True


class RegistryError(OutsideError):
    pass


class RegistryAuthError(RegistryError):
    pass


class ClusterError(OutsideError):
    pass


class GitHubError(OutsideError):
    pass
