"""The clone leptonci writes in: one writer at a time, atomic files, recovery after a kill.

A landing holds an exclusive ``flock`` on ``.git/leptonci.lock`` while it writes, so two
leptonci runs in one clone never interleave, and a lock left by a killed run vanishes
with its process. Before the first file is written the landing records the folders it
is about to touch in a journal (``.git/leptonci-apply.json``); the commit removes it. A
later run that finds a journal (the earlier run died between writing and committing)
restores those folders to HEAD; git's lock files (``index.lock``, ``HEAD.lock``, a
ref's) that no live process owns are cleared, journal or not, before planning anew.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from leptonci.adapters.git import Git
from leptonci.core.errors import UsageError
from leptonci.core.files import write_atomic

JOURNAL = "leptonci-apply.json"
LOCK = "leptonci.lock"
_GIT_LOCK_GRACE = 5.0  # seconds a git child of a killed run may still need to finish


@contextmanager
def exclusive(git: Git) -> Iterator[None]:
    """Hold the clone's writer lock; a second writer is refused at once with a hint."""
    path = git.git_dir() / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(
                f"another leptonci run is writing in this clone ({git.root})",
                hint="wait for it to finish, then run again",
            ) from None
        yield
    finally:
        os.close(fd)  # closing drops the lock


def journal_path(git: Git) -> Path:
    return git.git_dir() / JOURNAL


def start_journal(git: Git, folders: Sequence[str]) -> None:
    path = journal_path(git)
    if not path.exists():
        write_atomic(path, json.dumps({"paths": sorted(folders)}))


def end_journal(git: Git) -> None:
    journal_path(git).unlink(missing_ok=True)


def interrupted(git: Git) -> bool:
    """Whether an earlier run died mid-write (a journal, or a git lock file, is left)."""
    return journal_path(git).exists() or bool(git_locks(git))


def recover(git: Git) -> None:
    """Undo what a killed earlier run left: half-written folders and stale git locks.

    Call it holding ``exclusive``: then no other leptonci run can own git's locks (the
    index's, HEAD's, a ref's: a kill during a commit leaves any of them). A lock no live
    process owns is removed at once, whether or not the killed run got
    as far as its journal (git takes the lock for a status or a reset before any file
    is written); one a live process owns (a git child of the killed run still
    finishing, a git command someone runs in the clone) is waited for briefly, then
    refused: it is never pulled from under a running git.
    """
    _clear_git_locks(git)
    path = journal_path(git)
    if not path.exists():
        return
    try:
        data = json.loads(path.read_text())
        folders = [str(p) for p in data.get("paths") or []]
    except (OSError, ValueError, AttributeError):
        folders = []
    for folder in folders:
        for tmp in (git.root / folder).glob(".*.leptonci-tmp"):
            tmp.unlink(missing_ok=True)
    if folders:
        git.run("reset", "--quiet", "--", *folders, check=False)
        git.restore_paths(folders)
    path.unlink(missing_ok=True)


def git_locks(git: Git) -> list[Path]:
    """The lock files git leaves when killed mid-write: the index, HEAD, refs (its
    ``.lock`` beside each), packed refs."""
    git_dir = git.git_dir()
    found = [p for p in git_dir.glob("*.lock") if p.name != LOCK]
    refs = git_dir / "refs"
    return sorted(found + (list(refs.rglob("*.lock")) if refs.is_dir() else []))


def _clear_git_locks(git: Git) -> None:
    deadline = time.monotonic() + _GIT_LOCK_GRACE
    for lock in git_locks(git):
        while lock.exists():
            owners = lock_owners(lock, worktree=git.root)
            if not owners:
                lock.unlink(missing_ok=True)
                break
            if time.monotonic() >= deadline:
                if owners is UNKNOWN:  # no /proc to ask: after the grace, take it as stale
                    lock.unlink(missing_ok=True)
                    break
                raise UsageError(
                    f"git's {lock.name} in {git.root} is held by a running process "
                    f"(pid {', '.join(map(str, owners))})",
                    hint="wait for that git command to finish (or stop it), then run again",
                )
            time.sleep(0.1)


UNKNOWN: tuple[int, ...] = (-1,)  # lock_owners on a system without /proc


def lock_owners(lock: Path, *, worktree: Path, proc: Path = Path("/proc")) -> tuple[int, ...]:
    """The live processes that may own git's lock file: those holding it open, and git
    processes working in the clone (between writing the lock and renaming it, git may
    have closed it). ``UNKNOWN`` where processes cannot be listed."""
    if not proc.is_dir():
        return UNKNOWN
    target, root = str(lock.resolve()), worktree.resolve()
    owners: list[int] = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if (entry / "comm").read_text().strip() == "git":
                cwd = Path(os.readlink(entry / "cwd"))
                if cwd == root or root in cwd.parents:
                    owners.append(int(entry.name))
                    continue
            if any(os.readlink(fd) == target for fd in (entry / "fd").iterdir()):
                owners.append(int(entry.name))
        except OSError:
            continue  # gone meanwhile, or another user's: not ours to wait for
    return tuple(sorted(owners))
