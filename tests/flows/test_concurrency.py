"""Many promoters, one remote: no lost update, clean conflicts, crash-safe reruns.

Every process has its own clone of one bare remote, as separate CI jobs would.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from leptonci.core.config import load_config
from leptonci.core.errors import ConflictError
from leptonci.core.ledger import parse_ledger
from leptonci.engine.clone import JOURNAL
from leptonci.manifests import current_image
from tests.fixtures.git_repo import REPO, Clone, enter_release, fake_record, make_clone, seed_remote

MODELS = ["digits", "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf"]


def multi_model_config() -> tuple[str, dict[str, str]]:
    models = "".join(
        f"  {m}:\n    path: model_repo/digits\n    gate:\n      accuracy:\n        min: 0.5\n"
        for m in MODELS
    )
    config = (
        "project: many-models\n"
        "git:\n  push_retries: 40\n"
        f"models:\n{models}"
        "environments:\n"
        "  - {name: dev, path: environments/dev, policy: auto}\n"
        "  - {name: staging, path: environments/staging, upstream: dev, policy: auto}\n"
    )
    images = "".join(f"  - name: {m}\n    newTag: unreleased\n" for m in MODELS)
    envs = {
        f"environments/{env}/kustomization.yaml": (
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"resources:\n  - ../base\nimages:\n{images}"
        )
        for env in ("dev", "staging")
    }
    return config, envs


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO)
    env["LEPTONCI_ACTOR"] = "tester"
    return env


ENTER = (
    "import sys; from pathlib import Path; "
    "from tests.fixtures.git_repo import Clone, enter_release, fake_record; "
    "enter_release(Clone(Path(sys.argv[1]), Path(sys.argv[2])), fake_record(model=sys.argv[3]))"
)


def assert_consistent(clone: Clone, env: str) -> dict[str, str]:
    """The remote main's env folder agrees with itself; returns model -> current release."""
    # one fixed commit: a push orphaned by a kill may still land while we read
    rev = clone.remote_git("rev-parse", "main")
    ledger = parse_ledger(clone.remote_file(f"environments/{env}/ledger.yaml", rev), file=env)
    folder = f"environments/{env}"
    names = clone.remote_git("ls-tree", "--name-only", rev, f"{folder}/").split()
    files = {n: clone.remote_file(n, rev) for n in names if n.endswith(".yaml")}
    config = load_config(clone.root)
    pinned = {}
    for model in config.models:
        # an image volume names the registry's repository, which every fake release shares
        new_name = fake_record(model=model).image
        image = current_image(files, config.image_name(model), new_name=new_name)
        pinned[model] = image.split("@", 1)[1] if image and "@" in image else None
    for model, digest in pinned.items():
        record = ledger.current_for(model)
        assert (record.digest if record else None) == digest, f"{env}/{model} manifests disagree"
    return {m: r.release for m, r in ledger.current.items()}


def test_eight_processes_land_without_lost_updates(tmp_path: Path, pinned_git: None) -> None:
    config, envs = multi_model_config()
    remote = seed_remote(tmp_path, config_text=config, envs=envs)
    setup = make_clone(remote, tmp_path / "setup")
    promoted = MODELS[4:]
    for model in promoted:  # these are in dev already; their processes promote them on
        enter_release(setup, fake_record(model=model))
    procs = []
    for i, model in enumerate(MODELS):
        clone = make_clone(remote, tmp_path / f"worker{i}")
        if model in promoted:
            args = [
                "-m",
                "leptonci",
                "-C",
                str(clone.root),
                "promote",
                "--to",
                "staging",
                "--release",
                fake_record(model=model).release,
            ]
        else:
            args = ["-c", ENTER, str(clone.root), str(remote), model]
        procs.append(
            subprocess.Popen(
                [sys.executable, *args],
                cwd=REPO,
                env=_env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
        )
    results = [(p.wait(timeout=300), p.stderr.read() if p.stderr else "") for p in procs]
    assert [code for code, _ in results] == [0] * 8, results
    setup.pull()
    dev = assert_consistent(setup, "dev")
    staging = assert_consistent(setup, "staging")
    assert dev == {m: fake_record(model=m).release for m in MODELS}
    assert staging == {m: fake_record(model=m).release for m in promoted}
    # one commit per landing, none lost, none duplicated
    assert int(setup.remote_git("rev-list", "--count", "main")) == 1 + len(promoted) + 8


def _race(root: str, remote: str, seed: str, barrier, results) -> None:  # type: ignore[no-untyped-def]
    """Enter a release into dev; both racers reach their first push at the same moment."""
    from leptonci.adapters import git as git_adapter

    original = git_adapter.Git.push
    state = {"first": True}

    def push(self, remote_name: str, branch: str, *, lease: str | None = None) -> None:  # type: ignore[no-untyped-def]
        if state["first"]:
            state["first"] = False
            barrier.wait(timeout=60)
        original(self, remote_name, branch, lease=lease)

    git_adapter.Git.push = push  # type: ignore[method-assign]
    try:
        enter_release(Clone(Path(root), Path(remote)), fake_record(seed=seed))
        results.put((seed, 0, ""))
    except ConflictError as exc:
        results.put((seed, int(exc.exit_code), str(exc)))


def test_two_releases_into_one_environment_conflict_cleanly(
    example_remote: Path, tmp_path: Path
) -> None:
    mp = multiprocessing.get_context("fork")
    barrier, results = mp.Barrier(2), mp.Queue()
    clones = [make_clone(example_remote, tmp_path / f"racer{i}") for i in (1, 2)]
    procs = [
        mp.Process(target=_race, args=(str(c.root), str(example_remote), str(i), barrier, results))
        for i, c in zip((1, 2), clones, strict=True)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    outcome = sorted(results.get(timeout=5) for _ in procs)
    codes = sorted(code for _, code, _ in outcome)
    assert codes == [0, 1], outcome
    winner = next(seed for seed, code, _ in outcome if code == 0)
    loser_message = next(msg for _, code, msg in outcome if code == 1)
    assert (
        "moved from nothing to" in loser_message
        and fake_record(seed=winner).release in loser_message
    )
    releases = assert_consistent(clones[0], "dev")
    assert releases == {"digits": fake_record(seed=winner).release}
    # the loser's clone is back on the remote tip, with nothing half-written
    loser = clones[0] if winner == "2" else clones[1]
    assert loser.git("status", "--porcelain") == ""


def _kill_when(proc: subprocess.Popen[bytes], ready: Callable[[], bool], timeout: float) -> None:
    """SIGKILL proc the moment ready() holds; fails unless the kill landed mid-run."""
    end = time.monotonic() + timeout
    reached = False
    while time.monotonic() < end and proc.poll() is None:
        if ready():
            reached = True
            break
        time.sleep(0.0005)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert reached, f"the kill point never came within {timeout}s"
    assert proc.returncode == -signal.SIGKILL, f"the run ended (exit {proc.returncode}) unkilled"


# Kill points: fractions of a full run's time, and moments seen in the clone's .git:
# the apply journal (files being written), the index lock (git add/commit running),
# and HEAD moved (committed, push under way or not yet started).
KILL_POINTS = ["t0.2", "t0.5", "t0.8", "t0.95", "journal", "index-lock", "committed"]


@pytest.mark.parametrize("kill_at", KILL_POINTS)
def test_sigkill_at_any_point_leaves_the_remote_consistent_and_a_rerun_converges(
    example_clone: Clone, kill_at: str, tmp_path: Path
) -> None:
    record = fake_record(seed="1")
    enter_release(example_clone, record)
    root = example_clone.root
    args = [sys.executable, "-m", "leptonci", "-C", str(root), "promote", "--to", "staging"]
    head = example_clone.git("rev-parse", "HEAD")
    git_dir = root / ".git"
    if kill_at.startswith("t"):
        # measure a full run in a throwaway clone, then kill a fresh one part way through
        # (the shortest of three runs: a kill point past the end of a faster run is no kill)
        durations = []
        for i in range(3):
            probe = make_clone(example_clone.remote, tmp_path / f"probe{i}")
            start = time.monotonic()
            subprocess.run(
                [*args[:4], str(probe.root), *args[5:]],
                cwd=REPO,
                env=_env(),
                check=True,
                capture_output=True,
            )
            durations.append(time.monotonic() - start)
            probe.git("push", "--quiet", "--force", "origin", f"{head}:main")
        duration = min(durations)
        deadline = time.monotonic() + duration * float(kill_at[1:])
        ready: Callable[[], bool] = lambda: time.monotonic() >= deadline  # noqa: E731
    elif kill_at == "journal":
        ready = (git_dir / JOURNAL).exists
    elif kill_at == "index-lock":
        ready = (git_dir / "index.lock").exists
    else:
        ready = lambda: (git_dir / "refs/heads/main").read_text().strip() != head  # noqa: E731

    proc = subprocess.Popen(
        args, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    _kill_when(proc, ready, timeout=30)
    staging = assert_consistent(example_clone, "staging")
    assert staging in ({}, {"digits": record.release})

    rerun = subprocess.run(args, cwd=REPO, env=_env(), capture_output=True, text=True)
    assert rerun.returncode == 0, rerun.stderr
    assert assert_consistent(example_clone, "staging") == {"digits": record.release}
    assert example_clone.git("status", "--porcelain", "--untracked-files=all") == ""
    assert example_clone.git("rev-parse", "HEAD") == example_clone.remote_git("rev-parse", "main")
    assert not (git_dir / JOURNAL).exists()
    # exactly one promotion commit for staging, whatever the kill interrupted
    log = example_clone.remote_git("log", "--format=%s", "main", "--", "environments/staging")
    assert log.splitlines()[:-1] == [f"promote {record.release} into staging from dev"]
