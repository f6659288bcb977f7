"""Who owns a git lock file: the processes holding it open, and git working in the clone."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from leptonci.engine.clone import UNKNOWN, lock_owners


def test_a_lock_nobody_holds_has_no_owner(tmp_path: Path) -> None:
    lock = tmp_path / ".git" / "index.lock"
    lock.parent.mkdir()
    lock.write_text("")
    assert lock_owners(lock, worktree=tmp_path) == ()


def test_a_process_holding_the_lock_open_owns_it(tmp_path: Path) -> None:
    lock = tmp_path / "index.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; f = open(sys.argv[1], 'w'); sys.stdin.read()", lock],
        stdin=subprocess.PIPE,
    )
    try:
        while not lock.exists():
            pass
        assert lock_owners(lock, worktree=tmp_path / "elsewhere") == (holder.pid,)
    finally:
        holder.kill()
        holder.wait()
    assert lock_owners(lock, worktree=tmp_path) == ()


def test_a_git_process_working_in_the_clone_owns_its_locks(tmp_path: Path) -> None:
    # between writing a lock and renaming it git may have closed it: a git running in the
    # clone (here from a subfolder, waiting on its stdin) counts as its owner
    subprocess.run(["git", "init", "--quiet", str(tmp_path)], check=True)
    (tmp_path / "sub").mkdir()
    lock = tmp_path / ".git" / "HEAD.lock"
    lock.write_text("")
    git = subprocess.Popen(
        ["git", "cat-file", "--batch"], cwd=tmp_path / "sub", stdin=subprocess.PIPE
    )
    comm = Path(f"/proc/{git.pid}/comm")
    try:
        end = time.monotonic() + 10
        while comm.read_text().strip() != "git" and time.monotonic() < end:
            time.sleep(0.01)  # Popen may return before the child has exec'd git
        assert git.pid in lock_owners(lock, worktree=tmp_path)
    finally:
        git.kill()
        git.wait()
    assert lock_owners(lock, worktree=tmp_path) == ()


def test_without_proc_the_owner_is_unknown(tmp_path: Path) -> None:
    lock = tmp_path / "index.lock"
    assert lock_owners(lock, worktree=tmp_path, proc=tmp_path / "no-proc") is UNKNOWN
