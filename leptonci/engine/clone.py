"""The clone leptonci writes in: one writer at a time, atomic files, recovery after a kill.

A landing holds an exclusive ``flock`` on ``.git/leptonci.lock`` while it writes, so two
leptonci runs in one clone never interleave, and a lock left by a killed run vanishes
with its process. Before the first file is written the landing records the folders it
is about to touch in a journal (``.git/leptonci-apply.json``); the commit removes it. A
later run that finds a journal (the earlier run died between writing and committing)
restores those folders to HEAD and clears a stale ``index.lock`` before planning anew.
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
    """Whether an earlier run died mid-write (a journal, or a git index lock, is left)."""
    return journal_path(git).exists() or (git.git_dir() / "index.lock").exists()


def recover(git: Git) -> None:
    """Undo what a killed earlier run left: half-written folders and a stale index lock.

    Call it holding ``exclusive``: then no other leptonci run can own the index lock;
    a git child of the killed run may still be finishing, so wait for it briefly.
    """
    index_lock = git.git_dir() / "index.lock"
    deadline = time.monotonic() + _GIT_LOCK_GRACE
    while index_lock.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    index_lock.unlink(missing_ok=True)
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
