"""The one subprocess funnel: every external command leptonci runs goes through here.

On failure the error shows the command, its exit code and the tail of stdout and
stderr, all redacted, so that a failing ``git push`` or ``kubectl`` is diagnosable
without ever printing a credential.

Each command runs in leptonci's own process group (so whatever stops or kills that
group, a cancelled runner or a terminal's Ctrl-C, reaches it too), under a deadline
(``timeout``). When the deadline passes or leptonci is interrupted, the command gets
SIGTERM, so git removes its lock files as it ends, then SIGKILL after ``_GRACE`` seconds;
so does every process it started (git's remote helpers): nothing is left running and
the clone stays usable.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leptonci.core.errors import CommandFailed, TransientError
from leptonci.core.redact import excerpt, redact

_TAIL_LINES = 12
_TAIL_CHARS = 400
_GRACE = 0.5  # seconds between SIGTERM and SIGKILL for a group that overstays


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.returncode == 0


def tail(text: str) -> str:
    """The last non-blank lines of text, joined on one line: what an error message shows."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return " | ".join(lines[-_TAIL_LINES:])


def describe(args: Sequence[str]) -> str:
    return redact(shlex.join(args))


def run(
    args: Sequence[str],
    *,
    cwd: Path | str | None = None,
    env: Mapping[str, str] | None = None,
    unset: Iterable[str] = (),
    input: str | None = None,
    check: bool = True,
    timeout: float | None = 600,
) -> Result:
    """Run a command and capture its output.

    The command inherits the current environment, with ``env`` entries added and the
    variables named in ``unset`` removed. With ``check`` a non-zero exit raises
    ``CommandFailed``; a timeout raises ``TransientError``.
    """
    proc = _spawn(args, cwd=cwd, env=env, unset=unset, input=input, timeout=timeout, text=True)
    result = Result(tuple(args), proc.returncode, proc.stdout, proc.stderr)
    if check and not result.ok:
        raise failure(result)
    return result


def run_bytes(
    args: Sequence[str],
    *,
    cwd: Path | str | None = None,
    unset: Iterable[str] = (),
    timeout: float | None = 600,
) -> bytes:
    """Run a command and return its stdout undecoded (a file's bytes, for the caller to
    decode and check); failures as ``run`` reports them."""
    proc = _spawn(args, cwd=cwd, env=None, unset=unset, input=None, timeout=timeout, text=False)
    if proc.returncode != 0:
        stderr = proc.stderr.decode("utf-8", errors="replace")
        raise failure(Result(tuple(args), proc.returncode, "", stderr))
    return bytes(proc.stdout)


def _spawn(
    args: Sequence[str],
    *,
    cwd: Path | str | None,
    env: Mapping[str, str] | None,
    unset: Iterable[str],
    input: str | None,
    timeout: float | None,
    text: bool,
) -> subprocess.CompletedProcess[Any]:
    full_env = None
    drop = set(unset)
    if env is not None or drop:
        full_env = {k: v for k, v in os.environ.items() if k not in drop}
        full_env.update(env or {})
    try:
        child = subprocess.Popen(
            list(args),
            cwd=cwd,
            env=full_env,
            stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=text,
            # in leptonci's own process group: whatever stops or kills leptonci's group
            # (a cancelled runner, a terminal's Ctrl-C) reaches git too
        )
    except FileNotFoundError as exc:
        raise CommandFailed(
            f"command not found: {args[0]}",
            command=describe(args),
            returncode=None,
            hint="install it or put it on PATH",
        ) from exc
    try:
        stdout, stderr = child.communicate(input, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _end_group(child)
        raise TransientError(f"`{describe(args)}` timed out after {timeout:.0f}s") from exc
    except BaseException:  # an interrupt: the command must not outlive leptonci
        _end_group(child)
        raise
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)


def _end_group(child: subprocess.Popen[Any]) -> None:
    """SIGTERM the child and every process it started, SIGKILL what is left after the
    grace, reap the child.

    The tree is read before the first signal: once git ends, a helper it started (git's
    ``git-remote-http`` blocked on a hung socket) is orphaned, holds the output pipes
    open and would be lost to us.
    """
    tree = [child.pid, *_descendants(child.pid)]
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in tree:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        try:
            child.communicate(timeout=_GRACE)
            break
        except subprocess.TimeoutExpired:
            continue
    if child.returncode is None:
        child.wait()


def _descendants(pid: int) -> list[int]:
    """The processes below pid, read from /proc (empty where there is no /proc)."""
    parents: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return []
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            stat = Path("/proc", entry, "stat").read_text()
        except OSError:
            continue
        # the name is in parentheses and may hold any character: fields follow the last ')'
        fields = stat[stat.rfind(")") + 2 :].split()
        if len(fields) > 1 and fields[1].isdigit():
            parents.setdefault(int(fields[1]), []).append(int(entry))
    found: list[int] = []
    stack = [pid]
    while stack:
        for kid in parents.get(stack.pop(), []):
            found.append(kid)
            stack.append(kid)
    return found


def failure(result: Result) -> CommandFailed:
    """The error for a failed result: the tails in the message, the whole text in fields."""
    return CommandFailed(
        failure_text(result),
        command=describe(result.args),
        returncode=result.returncode,
        stdout=redact(result.stdout),
        stderr=redact(result.stderr),
    )


def failure_text(result: Result) -> str:
    parts = [f"`{describe(result.args)}` exited {result.returncode}"]
    out = tail(result.stdout)
    err = tail(result.stderr)
    if out:
        parts.append(f"stdout: {excerpt(out, _TAIL_CHARS, tail=True)}")
    if err:
        parts.append(f"stderr: {excerpt(err, _TAIL_CHARS, tail=True)}")
    return "; ".join(parts)
