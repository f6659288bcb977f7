"""Runs killed at controlled points, and the rerun that must converge.

A kill is aimed by freezing: the run (a real `leptonci` process in a session of its own,
git children included) is SIGSTOPped the moment the clone shows the wanted state, the
state is checked again while nothing moves, and only then is the whole group SIGKILLed.
So every test knows, and asserts, what the kill left behind before anything recovers.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from leptonci.core.ledger import parse_ledger
from leptonci.engine.clone import JOURNAL
from leptonci.pipeline.train import train_model
from tests.fixtures.git_repo import (
    GIT_ENV,
    REPO,
    Clone,
    enter_release,
    fake_record,
    make_clone,
    seed_remote,
)
from tests.flows.test_concurrency import assert_consistent
from tests.flows.test_run_push import quick_config

# Enough files that git's index refresh (status, reset) holds index.lock for a while.
BULK = {f"bulk/f{i:04d}.txt": f"{i}\n" for i in range(3000)}


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "LEPTONCI_ACTOR": "tester", **extra}


def _start(args: list[str], **extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "leptonci", *args],
        cwd=REPO,
        env=_env(**extra),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its git children are in its group: frozen and killed too
    )


def _run(args: list[str], **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "leptonci", *args],
        cwd=REPO,
        env=_env(**extra),
        capture_output=True,
        text=True,
    )


def _freeze_when(
    proc: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    confirm: Callable[[], bool] = lambda: True,
) -> bool:
    """Stop proc's whole group once ready() holds; True when, stopped, ready() still
    holds and confirm() (a slower check, made while nothing moves) agrees."""
    end = time.monotonic() + 120
    while time.monotonic() < end and proc.poll() is None:
        if ready():
            os.killpg(proc.pid, signal.SIGSTOP)
            time.sleep(0.02)  # let the stop reach every process of the group
            if ready() and confirm():
                return True
            os.killpg(proc.pid, signal.SIGCONT)
        time.sleep(0.0002)
    return False


def _kill(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait()


def _promote(clone: Clone) -> list[str]:
    return ["-C", str(clone.root), "promote", "--to", "staging"]


@pytest.fixture
def bulky_release_in_dev(tmp_path: Path, pinned_git: None) -> Clone:
    clone = make_clone(seed_remote(tmp_path, envs=BULK), tmp_path / "clone")
    enter_release(clone, fake_record(seed="1"))
    return clone


def _assert_converged(clone: Clone) -> None:
    release = fake_record(seed="1").release
    assert assert_consistent(clone, "staging") == {"digits": release}
    assert clone.git("status", "--porcelain", "--untracked-files=all") == ""
    assert clone.git("rev-parse", "HEAD") == clone.remote_git("rev-parse", "main")
    git_dir = clone.root / ".git"
    assert not (git_dir / JOURNAL).exists() and not (git_dir / "index.lock").exists()
    log = clone.remote_git("log", "--format=%s", "main", "--", "environments/staging")
    assert log.splitlines()[:-1] == [f"promote {release} into staging from dev"]


@pytest.mark.parametrize("journal", [False, True], ids=["before-the-journal", "at-the-commit"])
def test_a_kill_while_git_holds_the_index_lock_is_recovered(
    bulky_release_in_dev: Clone, journal: bool
) -> None:
    clone = bulky_release_in_dev
    git_dir = clone.root / ".git"
    lock, journal_file = git_dir / "index.lock", git_dir / JOURNAL
    head = clone.git("rev-parse", "HEAD")

    def ready() -> bool:
        return lock.exists() and journal_file.exists() == journal

    for _ in range(15):
        proc = _start(_promote(clone))
        landed = _freeze_when(proc, ready)
        _kill(proc)
        if landed:
            break
        # the run finished before the moment came: put everything back, try again
        clone.git("push", "--quiet", "--force", "origin", f"{head}:main")
        clone.git("reset", "--quiet", "--hard", head)
    else:
        pytest.fail("no kill landed while git held the index lock")
    # what the kill left: git's lock with nobody behind it, the journal as aimed
    assert lock.exists() and journal_file.exists() == journal
    assert assert_consistent(clone, "staging") == {}  # nothing reached the remote

    rerun = _run(_promote(clone))
    assert rerun.returncode == 0, rerun.stderr
    _assert_converged(clone)


HOLD_LOCK = (
    "import os, sys, time\n"
    "os.open(sys.argv[1], os.O_CREAT | os.O_EXCL | os.O_WRONLY)\n"
    "print('held', flush=True)\n"
    "time.sleep(300)\n"
)


def test_an_index_lock_a_live_process_holds_is_never_pulled(bulky_release_in_dev: Clone) -> None:
    clone = bulky_release_in_dev
    lock = clone.root / ".git" / "index.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "held\n"
        refused = _run(_promote(clone))
        assert refused.returncode == 2, refused.stderr
        assert f"held by a running process (pid {holder.pid})" in refused.stderr
        assert "index.lock exists" not in refused.stderr  # not git's raw text
        assert lock.exists()  # left to its owner
        assert assert_consistent(clone, "staging") == {}
    finally:
        holder.kill()
        holder.wait()
    # its owner is gone (killed, the lock left behind): now it is stale, and cleared
    assert lock.exists()
    rerun = _run(_promote(clone))
    assert rerun.returncode == 0, rerun.stderr
    _assert_converged(clone)


# -- run push killed between its commit and its push ------------------------------------
def _ref(git_dir: Path, ref: str) -> str:
    """A loose ref read straight from the file (fast enough to poll), else git's answer."""
    path = git_dir / ref
    try:
        return path.read_text().strip()
    except OSError:
        return subprocess.run(
            ["git", "rev-parse", ref], cwd=git_dir, capture_output=True, text=True
        ).stdout.strip()


def _end_state(clone: Clone) -> dict[str, object]:
    """What a finished `run push` leaves on the remote, without its timestamps."""
    state: dict[str, object] = {}
    for env in ("dev", "staging", "prod"):
        ledger = parse_ledger(clone.remote_file(f"environments/{env}/ledger.yaml"), file=env)
        state[env] = {
            m: (r.release, r.digest, r.action, r.from_env, r.verification.result)
            for m, r in ledger.current.items()
        }
    state["main"] = clone.remote_git("log", "--first-parent", "--format=%s", "main").splitlines()
    branches = clone.remote_git("for-each-ref", "--format=%(refname)", "refs/heads/leptonci")
    state["branches"] = branches.splitlines()
    for branch in state["branches"]:  # type: ignore[attr-defined]
        text = clone.remote_file("environments/prod/ledger.yaml", branch)
        current = parse_ledger(text, file="prod").current
        state[branch] = {m: (r.release, r.digest) for m, r in current.items()}
    return state


@pytest.fixture(scope="module")
def trained_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A training cache holding the quick config's candidate: runs below train nothing."""
    root = tmp_path_factory.mktemp("trained")
    cache = root / "cache"
    with pytest.MonkeyPatch.context() as patch:
        for key, value in GIT_ENV.items():
            patch.setenv(key, value)
        clone = make_clone(seed_remote(root, config_text=quick_config()), root / "clone")
        train_model(clone.ctx(env={"LEPTONCI_CACHE": str(cache)}), model="digits")
    return cache


# The commit a kill lands after (its push not done): (whether main on the remote has
# moved yet, the commit's subject).
COMMITS = {
    "dev": (False, "into dev"),
    "staging": (True, "into staging from dev"),
    "prod-branch": (True, "into prod from staging"),
}


@pytest.mark.slow
@pytest.mark.parametrize("at", list(COMMITS))
def test_run_push_killed_between_a_commit_and_its_push_converges(
    tmp_path: Path, pinned_git: None, trained_cache: Path, at: str
) -> None:
    cache, (remote_moved, subject) = trained_cache, COMMITS[at]
    clones = {}
    for name in ("uninterrupted", "killed"):
        (tmp_path / name).mkdir()
        remote = seed_remote(tmp_path / name, config_text=quick_config())
        clones[name] = make_clone(remote, tmp_path / name / "clone")
    run_push = ["run", "push"]

    reference = clones["uninterrupted"]
    done = _run(["-C", str(reference.root), *run_push], LEPTONCI_CACHE=str(cache))
    assert done.returncode == 0, done.stderr
    expected = _end_state(reference)
    assert expected["dev"] and expected["staging"] and expected["branches"], expected

    clone = clones["killed"]
    git_dir, remote_dir = clone.root / ".git", clone.remote
    start = _ref(git_dir, "refs/heads/main")

    def committed_not_pushed() -> bool:
        local, there = _ref(git_dir, "refs/heads/main"), _ref(remote_dir, "refs/heads/main")
        return local not in (start, there) and (there != start) == remote_moved

    def that_commit() -> bool:
        return clone.git("log", "-1", "--format=%s", "main").endswith(subject)

    proc = _start(["-C", str(clone.root), *run_push], LEPTONCI_CACHE=str(cache))
    landed = _freeze_when(proc, committed_not_pushed, that_commit)
    _kill(proc)
    assert landed, f"no kill landed between the commit {subject!r} and its push"
    # what the kill left: that commit in the clone only
    local = clone.git("rev-parse", "main")
    assert clone.git("branch", "-r", "--contains", local) == ""
    before = _end_state(clone)
    landed_before = {"dev": [], "staging": ["dev"], "prod-branch": ["dev", "staging"]}[at]
    for env in ("dev", "staging"):
        assert before[env] == (expected[env] if env in landed_before else {}), env
    assert before["branches"] == []

    rerun = _run(["-C", str(clone.root), *run_push], LEPTONCI_CACHE=str(cache))
    assert rerun.returncode == 0, rerun.stderr
    if at == "dev":  # "unchanged" is decided on the remote tip, not the unpushed commit
        assert "inputs unchanged" not in rerun.stdout + rerun.stderr
    assert _end_state(clone) == expected
    assert clone.git("rev-parse", "HEAD") == clone.remote_git("rev-parse", "main")
    assert clone.git("status", "--porcelain") == ""
