"""The git adapter on real repositories: whatever GIT_* the caller inherited, root is used."""

from __future__ import annotations

from pathlib import Path

import pytest

from leptonci import cli
from leptonci.adapters.git import Git
from leptonci.core.errors import ExitCode, GitError, ProtectedBranch
from tests.fixtures.git_repo import Clone, enter_release, fake_record, git
from tests.github_fake_rules import PUSHER, Protection, install_protection_hook


def repo_with_one_commit(path: Path, file: str) -> str:
    path.mkdir()
    git(path, "init", "--quiet", "--initial-branch=main")
    (path / file).write_text(f"{file}\n")
    git(path, "add", "--all")
    git(path, "commit", "--quiet", "-m", f"add {file}")
    return git(path, "rev-parse", "HEAD")


@pytest.fixture
def other_repo_in_the_environment(
    tmp_path: Path, pinned_git: None, monkeypatch: pytest.MonkeyPatch
) -> tuple[Path, str, Path]:
    """A repository at root, and GIT_DIR, GIT_WORK_TREE and GIT_INDEX_FILE set (as a hook
    or a parent git process sets them) to another one."""
    root_head = repo_with_one_commit(tmp_path / "root", "root.txt")
    other = tmp_path / "other"
    repo_with_one_commit(other, "other.txt")
    monkeypatch.setenv("GIT_DIR", str(other / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(other))
    monkeypatch.setenv("GIT_INDEX_FILE", str(other / ".git" / "index"))
    monkeypatch.setenv("GIT_OBJECT_DIRECTORY", str(other / ".git" / "objects"))
    return tmp_path / "root", root_head, other


def test_git_works_on_root_despite_inherited_repository_variables(
    other_repo_in_the_environment: tuple[Path, str, Path],
) -> None:
    root, root_head, other = other_repo_in_the_environment
    repo = Git(root)
    assert repo.head() == root_head
    assert repo.git_dir() == (root / ".git").resolve()
    assert repo.tree_files("HEAD", ".") == {"root.txt": "root.txt\n"}
    (root / "root.txt").write_text("changed\n")
    assert repo.dirty_paths(["."]) == ["root.txt"]
    commit = repo.commit_paths(
        ["root.txt"], "change root\n", author_name="Bot", author_email="bot@example.test"
    )
    assert repo.head() == commit != root_head
    # the other repository, which the variables name, is untouched
    assert git(other, "--git-dir", str(other / ".git"), "log", "--format=%s") == "add other.txt"


def test_a_failing_git_command_keeps_the_output_and_the_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(GitError, match=r"`git rev-parse HEAD` exited 128; stderr: fatal"):
        Git(tmp_path).head()  # not a repository
    monkeypatch.setenv("PATH", str(tmp_path))  # no git on PATH
    with pytest.raises(GitError) as info:
        Git(tmp_path).head()
    assert info.value.message == "command not found: git"
    assert info.value.hint == "install it or put it on PATH"


# -- a protected branch -----------------------------------------------------------------


def test_githubs_protected_branch_refusal_says_what_to_do(
    example_clone: Clone, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """GH006 in git's stderr: exit 3, one line naming both ways out, no raw git text."""
    enter_release(example_clone, fake_record(seed="protected"))
    install_protection_hook(example_clone.remote, Protection("main"))
    (example_clone.root / "note.txt").write_text("x\n")
    example_clone.git("add", "note.txt")
    example_clone.git("commit", "-qm", "note")
    with pytest.raises(ProtectedBranch) as refused:
        Git(example_clone.root).push("origin", "main")
    assert refused.value.exit_code == ExitCode.OUTSIDE and not refused.value.retryable
    example_clone.git("reset", "-q", "--hard", "origin/main")

    monkeypatch.setenv("LEPTONCI_ACTOR", "tester")
    main = example_clone.remote_git("rev-parse", "main")
    capsys.readouterr()
    assert cli.main(["-C", str(example_clone.root), "promote", "--to", "staging"]) == 3
    err = capsys.readouterr().err
    [line] = err.strip().splitlines()
    assert line.startswith(
        "leptonci: error: push to origin main refused: main is a protected branch (GH006); "
    )
    assert "git.land: pull-request" in line and "GitHub App token" in line
    assert "check access to the remote" not in line and "remote:" not in line
    assert example_clone.remote_git("rev-parse", "main") == main
    assert example_clone.git("status", "--porcelain") == ""  # the refused commit was undone


def test_a_bypass_actor_pushes_past_the_protection(
    example_clone: Clone, monkeypatch: pytest.MonkeyPatch
) -> None:
    install_protection_hook(example_clone.remote, Protection("main", bypass=("leptonci-app[bot]",)))
    monkeypatch.setenv(PUSHER, "leptonci-app[bot]")
    record = fake_record(seed="bypass")
    enter_release(example_clone, record)
    assert record.release in example_clone.remote_file("environments/dev/ledger.yaml")
