"""Two writers promoting into a pull-request environment at the same moment.

Each writer is a real `leptonci promote` process with its own clone of one bare remote,
talking to the loopback GitHub fake. A file barrier holds both at their first push of the
promotion branch until both are there, so every round is a real race for the branch.
The promotion branch is pushed with a lease on the commit read before planning: exactly
one writer's commit lands, the other finds the branch already carries the release and
only makes sure its pull request is open; nobody reports a commit that is on no branch.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from leptonci.promotion.delivery import promote_branch
from tests.fixtures.git_repo import REPO, Clone, enter_release, fake_record, make_clone, promote
from tests.github_fake import FakeGitHub

# At its first push of a promotion branch a writer waits until every writer has planned
# (reached its own push). Then, per round: all push at once ("together": git's ref lock
# decides), or one after the other ("after": the second pushes over a branch that moved
# since it read it, the lost update a lease exists for). The adapter itself is untouched.
WRITER = """
import sys, time
from pathlib import Path
from leptonci import cli
from leptonci.adapters import git as git_adapter

gate, me, writers, after = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
original = git_adapter.Git.push
waiting = [True]

def wait_for(names):
    end = time.monotonic() + 60
    while not all((gate / n).exists() for n in names) and time.monotonic() < end:
        time.sleep(0.001)

def push(self, remote, branch, *, lease=None):
    if not (waiting[0] and branch.startswith("leptonci/promote/")):
        return original(self, remote, branch, lease=lease)
    waiting[0] = False
    (gate / f"planned{me}").touch()
    wait_for([f"planned{i}" for i in range(writers)] + ([f"pushed{after}"] if after else []))
    try:
        original(self, remote, branch, lease=lease)
    finally:
        (gate / f"pushed{me}").touch()

git_adapter.Git.push = push
sys.exit(cli.main(sys.argv[5:]))
"""

ROUNDS = 4  # together, after, together, after
WRITERS = 2


def _race(
    clones: list[Clone], fake: FakeGitHub, gate: Path, *, order: list[str]
) -> list[tuple[int, dict, str]]:  # type: ignore[type-arg]
    """Run one writer per clone; order[i]: the writer that writer i pushes after ("")."""
    gate.mkdir()
    procs = []
    for i, clone in enumerate(clones):
        env = {**os.environ, **fake.env(LEPTONCI_ACTOR=f"writer{i}"), "PYTHONPATH": str(REPO)}
        args = ["-C", str(clone.root), "-o", "json", "promote", "--to", "prod"]
        procs.append(
            subprocess.Popen(
                [sys.executable, "-c", WRITER, str(gate), str(i), str(WRITERS), order[i], *args],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        results.append((proc.returncode, json.loads(out) if out.strip() else {}, err))
    return results


def test_two_writers_race_for_one_promotion_branch(
    example_clone: Clone, github_fake: FakeGitHub, tmp_path: Path
) -> None:
    remote = example_clone.remote
    github_fake.attach(remote)
    subprocess.run(["git", "config", "core.logAllRefUpdates", "always"], cwd=remote, check=True)
    writers = [make_clone(remote, tmp_path / f"writer{i}") for i in range(WRITERS)]
    for n in range(ROUNDS):
        record = fake_record(seed=f"round{n}")
        enter_release(example_clone, record)
        assert promote(example_clone, "staging") == 0
        branch = promote_branch("prod", record.release)
        main = example_clone.remote_git("rev-parse", "main")

        first = n // 2 % WRITERS  # who goes first alternates
        order = ["" if n % 2 == 0 or i == first else str(first) for i in range(WRITERS)]
        results = _race(writers, github_fake, tmp_path / f"gate{n}", order=order)
        assert [code for code, _, _ in results] == [0] * WRITERS, results
        tip = example_clone.remote_git("rev-parse", f"refs/heads/{branch}")
        # the branch moved exactly once: nobody pushed over another writer's commit
        updates = example_clone.remote_git("reflog", "show", "--format=%H", f"refs/heads/{branch}")
        assert updates.split() == [tip], f"round {n}: {branch} was written over"
        reported = [doc["commit"] for _, doc, _ in results if doc["commit"]]
        assert reported == [tip], f"round {n}: a writer reports a commit on no branch"
        loser, said = next((doc, err) for _, doc, err in results if not doc["commit"])
        assert f"{branch} moved meanwhile (another writer landed first)" in said
        [change] = loser["changes"]
        assert change["message"] == (
            f"{record.release}: {branch} already carries it; awaiting the merge"
        )
        # one pull request, and both writers point at it
        [pull] = [p for p in github_fake.open_pulls() if p["head"]["ref"] == branch]
        assert {doc["pull_request"] for _, doc, _ in results} == {pull["html_url"]}
        assert example_clone.remote_git("rev-parse", "main") == main  # waits for the merge
        for clone in writers:
            assert clone.git("status", "--porcelain") == ""
