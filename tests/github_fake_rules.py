"""Branch protection for the fake GitHub: who may move main, and merges done in real git.

``Protection`` is the state GitHub keeps for a protected branch: the required status
checks, the number of approving reviews, whether code owners must approve (owners read
from ``.github/CODEOWNERS`` on the base branch), and the actors a ruleset lets bypass.
``RemoteRepo`` is the bare test remote seen the way GitHub sees its own repository: it
reads branch tips and changed files and performs merges (merge, squash, rebase) in a
scratch clone, pushing with the marker that the remote's pre-receive hook lets through,
as GitHub's own merges are. ``install_protection_hook`` puts the refusal a ``git push``
to a protected branch meets on github.com into that remote: GH006 on stderr, rejected.
"""

from __future__ import annotations

import fnmatch
import os
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

MERGE_MARK = "LEPTONCI_FAKE_GITHUB_MERGE"  # set on GitHub's own pushes (merges)
PUSHER = "LEPTONCI_FAKE_PUSHER"  # the identity a test's `git push` acts as


@dataclass
class Protection:
    branch: str = "main"
    contexts: tuple[str, ...] = ()  # required status checks
    reviews: int = 0  # required approving reviews
    code_owners: bool = False  # require review from code owners
    bypass: tuple[str, ...] = ()  # logins a ruleset lets bypass (push directly, merge)


@dataclass
class RemoteRepo:
    """The bare remote, as GitHub's side of it."""

    path: Path
    work: Path = field(init=False)

    def __post_init__(self) -> None:
        self.work = self.path.parent / ".fake-github-work"

    def git(self, *args: str, cwd: Path | None = None) -> str:
        env = {**os.environ, MERGE_MARK: "1"}
        for key in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
            env.pop(key, None)
        result = subprocess.run(
            ["git", *args], cwd=cwd or self.path, env=env, capture_output=True, text=True
        )
        if result.returncode != 0:
            raise RuntimeError(f"git {shlex.join(args)}: {result.stderr.strip()}")
        return result.stdout.strip()

    def tip(self, branch: str) -> str | None:
        try:
            return self.git("rev-parse", "--verify", "--quiet", f"refs/heads/{branch}")
        except RuntimeError:
            return None

    def changed_files(self, base: str, head: str) -> list[str]:
        return self.git("diff", "--name-only", f"{base}...{head}").splitlines()

    def file(self, branch: str, path: str) -> str | None:
        try:
            return self.git("show", f"{branch}:{path}")
        except RuntimeError:
            return None

    def merge(self, *, head: str, base: str, method: str, title: str, message: str) -> str:
        """Merge head into base the way the merge button does; return the new base tip."""
        if not (self.work / ".git").is_dir():
            self.git("clone", "--quiet", str(self.path), str(self.work), cwd=self.path.parent)
        run = self.work
        self.git("fetch", "--quiet", "--prune", "origin", cwd=run)
        self.git("checkout", "--quiet", "-B", base, f"origin/{base}", cwd=run)
        text = f"{title}\n\n{message}".rstrip() + "\n"
        if method == "squash":
            self.git("merge", "--quiet", "--squash", f"origin/{head}", cwd=run)
            self.git("commit", "--quiet", "--no-verify", "-m", text, cwd=run)
        elif method == "rebase":
            commits = self.git("rev-list", "--reverse", f"{base}..origin/{head}", cwd=run)
            for commit in commits.split():
                self.git("cherry-pick", "--allow-empty", commit, cwd=run)
        else:
            self.git("merge", "--quiet", "--no-ff", "-m", text, f"origin/{head}", cwd=run)
        self.git("push", "--quiet", "origin", f"HEAD:refs/heads/{base}", cwd=run)
        return self.git("rev-parse", "HEAD", cwd=run)

    def delete_branch(self, branch: str) -> None:
        self.git("update-ref", "-d", f"refs/heads/{branch}")


def code_owners(text: str | None) -> list[tuple[str, tuple[str, ...]]]:
    """(pattern, owners) lines of a CODEOWNERS file, in order (the last match wins)."""
    rules = []
    for line in (text or "").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            pattern, *owners = line.split()
            rules.append((pattern, tuple(o.lstrip("@") for o in owners)))
    return rules


def owners_of(path: str, rules: list[tuple[str, tuple[str, ...]]]) -> tuple[str, ...]:
    found: tuple[str, ...] = ()
    for pattern, owners in rules:
        anchored = pattern.lstrip("/")
        if anchored.endswith("/"):
            hit = path.startswith(anchored)
        else:
            hit = fnmatch.fnmatch(path, anchored) or path.startswith(anchored + "/")
            hit = hit or (pattern == "*")
        if hit:
            found = owners
    return found


HOOK = """#!/bin/sh
# GitHub's refusal of a push to a protected branch; GitHub's own merges pass.
bypass=" $(cat "$(dirname "$0")/bypass" 2>/dev/null) "
while read -r old new ref; do
  [ "$ref" = "refs/heads/{branch}" ] || continue
  [ "${{{merge}:-}}" = 1 ] && continue
  case "$bypass" in *" ${{{pusher}:-nobody}} "*) continue ;; esac
  echo "error: GH006: Protected branch update failed for refs/heads/{branch}."
  echo "error: Changes must be made through a pull request."
  exit 1
done
exit 0
"""


def install_protection_hook(remote: Path, protection: Protection) -> None:
    hooks = remote / "hooks"
    hooks.mkdir(exist_ok=True)
    hook = hooks / "pre-receive"
    hook.write_text(HOOK.format(branch=protection.branch, merge=MERGE_MARK, pusher=PUSHER))
    hook.chmod(0o755)
    (hooks / "bypass").write_text(" ".join(protection.bypass) + "\n")
