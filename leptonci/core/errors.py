"""The exception tree and the exit codes every command maps its outcome to.

Nothing below the CLI calls ``sys.exit``: code raises a ``LeptonError`` subclass and
the one top-level handler in ``leptonci.cli`` turns it into a one-line message and an exit
code. Messages say what failed, on which object, and what to do next.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0  # done, or nothing to do
    NO = 1  # a "no": gate failed, verification failed, promotion refused
    BAD_INPUT = 2  # bad input or config
    OUTSIDE = 3  # an outside system failed after retries
    BUG = 70  # a bug in leptonci itself (EX_SOFTWARE in sysexits.h), never a "no"
    INTERRUPTED = 130


class LeptonError(Exception):
    """Base of every error leptonci raises on purpose.

    ``retryable`` is what every retry loop reads (``leptonci.adapters.retrying``): a
    class marks a kind of failure that may go away when tried again, and an instance
    may set it from what the outside system answered.
    """

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
        self.detail = message  # the message without its file:line: key: prefix
        where = ""
        if file:
            where = printable(file) if line is None else f"{printable(file)}:{line}"
            where += ": "
        at_key = f"{printable(key)}: " if key else ""
        super().__init__(f"{where}{at_key}{message}", hint=hint)


def printable(text: str) -> str:
    """text with each character a terminal or a log would act on (a line or record
    separator, an escape) written as its escape: a user's key names its line, once."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)


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


class TagTaken(RefusedError):
    """An image tag (a release id) already names another digest: a pushed tag is never
    moved, so a release id names exactly one image."""


class OutsideError(LeptonError):
    """An outside system (git remote, registry, cluster, GitHub) failed.

    ``retry_after`` is a wait in seconds the system itself asked for (an HTTP
    Retry-After or rate-limit reset); a retry waits that long instead of its backoff.
    """

    exit_code = ExitCode.OUTSIDE

    def __init__(
        self, message: str, *, hint: str | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message, hint=hint)
        self.retry_after = retry_after


class TransientError(OutsideError):
    """An outside failure that may go away when retried (5xx, timeouts, resets)."""

    retryable = True


class CommandFailed(OutsideError):
    """A subprocess failed to start or exited non-zero.

    The message shows the command, exit code and the tail of stdout and stderr; the
    fields hold the whole (redacted) text, so callers never parse the message back.
    ``returncode`` is None when the command could not be started.
    """

    def __init__(
        self,
        message: str,
        *,
        command: str,
        returncode: int | None,
        stdout: str = "",
        stderr: str = "",
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.command = command
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


class GitError(OutsideError):
    pass


class PushRejected(GitError):
    """The remote refused a push as non-fast-forward; rebuild the plan and retry."""

    retryable = True

    def __init__(self, message: str, *, branch: str = "", hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.branch = branch  # the branch that moved meanwhile


class ProtectedBranch(GitError):
    """The remote refused a push to a protected branch (GitHub's GH006 or GH013).

    Retrying cannot help: the change has to go through a pull request, or be pushed by
    an identity the branch's rules let bypass.
    """


class RegistryError(OutsideError):
    pass


class RegistryAuthError(RegistryError):
    pass


class ClusterError(OutsideError):
    pass


class TrainingJobFailed(ClusterError):
    """A training Job on the cluster failed: a pod could not pull its image, a worker
    failed past its retries, the deadline passed, or the Job was deleted."""


class GitHubError(OutsideError):
    pass


class GitHubUnavailable(GitHubError, TransientError):
    """GitHub answered 5xx or a rate limit, or could not be reached: retried."""
