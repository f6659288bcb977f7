"""The one subprocess funnel: every external command leptonci runs goes through here.

On failure the error shows the command, its exit code and the tail of stdout and
stderr, all redacted, so that a failing ``git push`` or ``kubectl`` is diagnosable
without ever printing a credential.
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from leptonci.errors import CommandFailed, TransientError
from leptonci.redact import excerpt, redact

_TAIL_LINES = 12
_TAIL_CHARS = 400


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def _tail(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-_TAIL_LINES:])


def describe(args: Sequence[str]) -> str:
    return redact(shlex.join(args))


def run(
    args: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    input: str | None = None,
    check: bool = True,
    timeout: float | None = 600,
) -> Result:
    """Run a command and capture its output.

    ``env`` entries are added to the current environment. With ``check`` a non-zero
    exit raises ``CommandFailed``; a timeout raises ``TransientError``.
    """
    full_env = None
    if env is not None:
        full_env = dict(os.environ)
        full_env.update(env)
    try:
        proc = subprocess.run(
            list(args),
            cwd=cwd,
            env=full_env,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise CommandFailed(
            f"command not found: {args[0]}", hint="install it or put it on PATH"
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise TransientError(f"`{describe(args)}` timed out after {timeout:.0f}s") from exc
    result = Result(tuple(args), proc.returncode, proc.stdout, proc.stderr)
    if check and not result.ok:
        raise CommandFailed(failure_text(result))
    return result


def failure_text(result: Result) -> str:
    parts = [f"`{describe(result.args)}` exited {result.returncode}"]
    out = _tail(result.stdout)
    err = _tail(result.stderr)
    if out:
        parts.append(f"stdout: {excerpt(out, _TAIL_CHARS, tail=True)}")
    if err:
        parts.append(f"stderr: {excerpt(err, _TAIL_CHARS, tail=True)}")
    return "; ".join(parts)
