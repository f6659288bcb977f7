"""The git adapter: every git operation leptonci does, through the real git CLI.

A command that talks to a remote (fetch, push) is held to the deadlines
(``core.deadlines``): git's own ``http.lowSpeedLimit``/``http.lowSpeedTime`` end an http
transfer that moves fewer than ``low_speed`` bytes a second for ``stall`` seconds, ssh
gets a connect timeout and keep-alives (unless the user chose an ssh command), and the
funnel ends the process after ``process`` seconds whatever it is doing. Either way the
error is one line naming the remote and its URL, the password masked.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from leptonci.adapters import proc
from leptonci.core.deadlines import Deadlines
from leptonci.core.errors import (
    CommandFailed,
    GitError,
    ProtectedBranch,
    PushRejected,
    TransientError,
)
from leptonci.core.files import MAX_FILE_BYTES, decode, link_target, outside, too_large
from leptonci.core.redact import redact, register_url_credentials

# Variables that point git at another repository, index or object store. A hook or a
# parent git process (leptonci run from a hook, `git rebase --exec`) sets them; left in
# place they would make every command below act on that repository instead of root.
REPOSITORY_VARIABLES = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_COMMON_DIR",
)

# remote URLs and `url.<base>.insteadOf` rewrites: where credentials get written into git
_URL_KEYS = r"^(remote\..*\.(push)?url|url\..*\.(push)?insteadof)$"


@dataclass(frozen=True)
class SourceInfo:
    """The commit a model's inputs came from: what images and releases record."""

    commit: str  # full hash, "" outside git
    time: str  # committer time, ISO-8601 UTC ("1970-01-01T00:00:00Z" outside git)
    url: str  # the repository's URL for org.opencontainers.image.source ("" if none)

    @property
    def short(self) -> str:
        return self.commit[:12] if self.commit else "nocommit"


class Git:
    """The repository at root, whatever repository the calling process was run in."""

    def __init__(self, root: Path, *, deadlines: Deadlines | None = None) -> None:
        self.root = root
        self.deadlines = deadlines or Deadlines()

    def run(
        self,
        *args: str,
        check: bool = True,
        input: str | None = None,
        timeout: float | None = 600,
    ) -> proc.Result:
        try:
            return proc.run(
                ["git", *args],
                cwd=self.root,
                unset=REPOSITORY_VARIABLES,
                check=check,
                input=input,
                timeout=timeout,
            )
        except CommandFailed as exc:
            raise GitError(exc.message, hint=exc.hint) from None

    def remote_run(self, op: str, remote: str, *args: str, check: bool = True) -> proc.Result:
        """Run git op against remote under the deadlines; a stall or an overrun is a
        one-line GitError naming the remote, whatever ``check`` says."""
        self.learn_remote_credentials(remote)
        d = self.deadlines
        limits = [
            *("-c", f"http.lowSpeedLimit={d.low_speed}"),
            *("-c", f"http.lowSpeedTime={max(1, round(d.stall))}"),
            *self._ssh_options(),
        ]
        try:
            result = self.run(*limits, op, *args, check=False, timeout=d.process)
        except TransientError:
            raise self._hung(op, remote, f"did not finish within {d.process:g}s") from None
        if not result.ok and any(mark in result.stderr for mark in _STALL_MARKS):
            why = f"stalled (under {d.low_speed} bytes/s for {d.stall:g}s)"
            raise self._hung(op, remote, why)
        if check and not result.ok:
            raise GitError(proc.failure_text(result))
        return result

    def _ssh_options(self) -> list[str]:
        """A connect timeout and keep-alives for ssh remotes, unless the user set the
        ssh command (GIT_SSH_COMMAND, GIT_SSH, core.sshCommand): theirs wins."""
        if os.environ.get("GIT_SSH_COMMAND") or os.environ.get("GIT_SSH"):
            return []
        if self.run("config", "--get", "core.sshCommand", check=False).stdout.strip():
            return []
        d = self.deadlines
        alive = max(1, round(d.stall / 2))
        command = (
            f"ssh -o ConnectTimeout={max(1, round(d.connect))} "
            f"-o ServerAliveInterval={alive} -o ServerAliveCountMax=2"
        )
        return ["-c", f"core.sshCommand={command}"]

    def _hung(self, op: str, remote: str, why: str) -> GitError:
        url = _masked(self.remote_url(remote) if "://" not in remote else remote)
        where = f"{remote} ({url})" if url and url != remote else remote
        return GitError(
            redact(f"git {op} {where} {why}"),
            hint="check that the git remote is up and reachable, then run again "
            "(deadlines: in leptonci.yaml, LEPTONCI_STALL_TIMEOUT, LEPTONCI_PROCESS_DEADLINE)",
        )

    def is_repo(self) -> bool:
        return self.run("rev-parse", "--git-dir", check=False).ok

    def head(self) -> str:
        return self.run("rev-parse", "HEAD").stdout.strip()

    def last_commit(self, paths: Sequence[str]) -> str:
        """The newest commit that touched any of paths ("" when none or not a repo)."""
        result = self.run("log", "-1", "--format=%H", "--", *paths, check=False)
        return result.stdout.strip() if result.ok else ""

    def commit_time(self, commit: str) -> str:
        out = self.run("show", "-s", "--format=%ct", commit).stdout.strip()
        from datetime import UTC, datetime

        return datetime.fromtimestamp(int(out), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    def remote_url(self, remote: str = "origin") -> str:
        result = self.run("remote", "get-url", remote, check=False)
        return result.stdout.strip() if result.ok else ""

    def source_info(self, paths: Sequence[str], *, remote: str = "origin") -> SourceInfo:
        """Source of the given inputs: the last commit touching them, for reproducibility.

        Using the inputs' last commit (not HEAD) keeps image labels, and so digests,
        identical when unrelated commits land.
        """
        if not self.is_repo():
            return SourceInfo("", "1970-01-01T00:00:00Z", "")
        commit = self.last_commit(paths) or self.head()
        return SourceInfo(commit, self.commit_time(commit), _public_url(self.remote_url(remote)))

    def is_shallow(self) -> bool:
        """Whether this clone's history is cut (``git clone --depth``, actions/checkout)."""
        out = self.run("rev-parse", "--is-shallow-repository", check=False).stdout
        return out.strip() == "true"

    def deepen(self, remote: str) -> None:
        """Fetch the rest of a shallow clone's history from remote."""
        self.learn_remote_credentials(remote)
        self.run("fetch", "--quiet", "--unshallow", "--no-tags", remote)

    # -- promotion support -----------------------------------------------------------
    def git_dir(self) -> Path:
        out = self.run("rev-parse", "--absolute-git-dir").stdout.strip()
        return Path(out)

    def rev_parse(self, rev: str) -> str:
        return self.run("rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}").stdout.strip()

    def learn_remote_credentials(self, remote: str = "") -> None:
        """Register the passwords written into remote URLs, before git can echo them."""
        register_url_credentials(remote)  # a URL given in place of a remote name
        urls = self.run("config", "--get-regexp", _URL_KEYS, check=False).stdout
        register_url_credentials(urls)

    def fetch(self, remote: str, branch: str) -> str:
        """Fetch branch from remote into its remote-tracking ref; return the tip commit."""
        self.learn_remote_credentials(remote)
        tracking = f"refs/remotes/{remote}/{branch}"
        self.remote_run(
            "fetch", remote, "--quiet", "--no-tags", remote, f"+refs/heads/{branch}:{tracking}"
        )
        return self.rev_parse(tracking)

    def branch_tip(self, remote: str, branch: str, *, fetch: bool = True) -> str | None:
        """The tip of remote's branch (fetched first unless fetch=False); None if absent."""
        tracking = f"refs/remotes/{remote}/{branch}"
        if fetch:
            spec = f"+refs/heads/{branch}:{tracking}"
            args = ("--quiet", "--no-tags", remote, spec)
            if not self.remote_run("fetch", remote, *args, check=False).ok:
                self.run("update-ref", "-d", tracking, check=False)  # gone on the remote
                return None
        result = self.run("rev-parse", "--verify", "--quiet", f"{tracking}^{{commit}}", check=False)
        return result.stdout.strip() if result.ok else None

    def same_content(self, a: str, b: str, path: str) -> bool:
        """Whether path holds the same files at revisions a and b (False on a bad rev)."""
        return self.run("diff", "--quiet", a, b, "--", path, check=False).ok

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self.run("merge-base", "--is-ancestor", ancestor, descendant, check=False).ok

    def commits_between(self, base: str, head: str) -> list[str]:
        """Commits reachable from head but not from base, oldest first."""
        out = self.run("rev-list", "--reverse", f"{base}..{head}").stdout
        return out.split()

    def message(self, commit: str) -> str:
        return self.run("show", "-s", "--format=%B", commit).stdout

    def dirty_paths(self, paths: Sequence[str]) -> list[str]:
        """Modified, staged or untracked files under paths (ignored files excluded)."""
        out = self.run("status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *paths)
        entries = [e for e in out.stdout.split("\0") if e]
        return [e[3:] for e in entries if len(e) > 3]

    def reset_keep(self, rev: str) -> None:
        """Move HEAD (and the branch) to rev, keeping unrelated local changes."""
        self.run("reset", "--quiet", "--keep", rev)

    def restore_paths(self, paths: Sequence[str]) -> None:
        """Put paths back to HEAD: undo edits, drop untracked files there."""
        self.run("checkout", "--quiet", "HEAD", "--", *paths, check=False)
        self.run("clean", "--quiet", "-f", "--", *paths, check=False)

    def commit_paths(
        self,
        paths: Sequence[str],
        message: str,
        *,
        author_name: str,
        author_email: str,
    ) -> str:
        """Commit exactly the working-tree content of paths; return the new commit."""
        ident = [
            "-c",
            f"user.name={author_name}",
            "-c",
            f"user.email={author_email}",
            "-c",
            "commit.gpgsign=false",
        ]
        self.run("add", "--all", "--", *paths)
        self.run(
            *ident, "commit", "--quiet", "--no-verify", "--file=-", "--", *paths, input=message
        )
        return self.head()

    def push(self, remote: str, branch: str, *, lease: str | None = None) -> None:
        """Push HEAD to branch; a non-fast-forward (or lost ref race) raises PushRejected.

        ``lease`` force-pushes a branch leptonci owns, but only while it still points at
        the commit read before planning ("" for "must not exist yet").
        """
        args = ["--porcelain"]
        if lease is not None:
            args.append(f"--force-with-lease=refs/heads/{branch}:{lease}")
        result = self.remote_run(
            "push", remote, *args, remote, f"HEAD:refs/heads/{branch}", check=False
        )
        if result.ok:
            return
        text = f"{result.stdout}\n{result.stderr}".lower()
        code = next((c for c in _PROTECTED_MARKS if c.lower() in text), None)
        if code is not None:
            raise protected_branch(remote, branch, code)
        if any(mark in text for mark in _REJECTED_MARKS):
            raise PushRejected(
                f"push to {remote} rejected: {branch} moved meanwhile", branch=branch
            )
        raise GitError(proc.failure_text(result), hint=f"check access to the remote {remote!r}")

    def fetch_prefix(self, remote: str, prefix: str) -> None:
        """Fetch every remote branch under prefix (e.g. leptonci/promote/prod/), pruning
        remote-tracking refs of branches that are gone."""
        spec = f"+refs/heads/{prefix}*:refs/remotes/{remote}/{prefix}*"
        self.remote_run("fetch", remote, "--quiet", "--no-tags", "--prune", remote, spec)

    def refs_under(self, prefix: str) -> list[tuple[str, str]]:
        """(ref name, commit) of every ref under prefix, sorted by name."""
        out = self.run("for-each-ref", "--format=%(refname) %(objectname)", prefix).stdout
        pairs = [line.split(" ", 1) for line in out.splitlines() if " " in line]
        return sorted((name, sha) for name, sha in pairs)

    def file_at(self, rev: str, path: str) -> str | None:
        """The text of path at rev, or None when rev has no such file."""
        entries = self._entries(rev, path, recursive=False)
        return self._text(rev, entries[0]) if entries else None

    def log_trailers(self, rev: str, paths: Sequence[str]) -> list[tuple[str, str]]:
        """(commit, trailer block) of commits touching paths, oldest first."""
        fmt = "%H%x00%(trailers:only=true,unfold=true)%x1e"
        out = self.run("log", "--reverse", f"--format={fmt}", rev, "--", *paths).stdout
        items: list[tuple[str, str]] = []
        for chunk in out.split("\x1e"):
            chunk = chunk.strip("\n")
            if chunk:
                commit, _, block = chunk.partition("\0")
                items.append((commit.strip(), block))
        return items

    def tree_files(self, rev: str, path: str) -> dict[str, str]:
        """Text of every file under path at rev (repo-relative path -> text)."""
        files: dict[str, str] = {}
        for entry in self._entries(rev, path, recursive=True):
            text = self._text(rev, entry)
            if text is not None:
                files[entry.name] = text
        return files

    def _entries(self, rev: str, path: str, *, recursive: bool) -> list[_Entry]:
        """The blobs at path (under it, with recursive) in rev; [] when rev has none."""
        flags = ["-r"] if recursive else []
        result = self.run("ls-tree", "-l", "-z", *flags, rev, "--", path, check=recursive)
        entries: list[_Entry] = []
        if not result.ok:
            return entries
        for line in (n for n in result.stdout.split("\0") if n):
            meta, _, name = line.partition("\t")
            mode, kind, sha, size = meta.split()
            if kind == "blob" and (recursive or name == path):
                entries.append(_Entry(name, mode, sha, int(size)))
        return entries

    def _text(self, rev: str, entry: _Entry, *, links: int = 0) -> str | None:
        """A blob's text, checked as every file read is; a symlink is followed inside the
        repository (None when it dangles) and refused when it leads out of it."""
        if entry.size > MAX_FILE_BYTES:
            raise too_large(entry.name, entry.size)
        try:
            data = proc.run_bytes(
                ["git", "cat-file", "blob", entry.sha], cwd=self.root, unset=REPOSITORY_VARIABLES
            )
        except CommandFailed as exc:
            raise GitError(exc.message, hint=exc.hint) from None
        if entry.mode != SYMLINK_MODE:
            return decode(data, file=entry.name)
        target = decode(data, file=entry.name)
        inside = link_target(entry.name, target)
        if inside is None or links >= _MAX_LINKS:
            raise outside(entry.name, target)
        found = self._entries(rev, inside, recursive=False)
        return self._text(rev, found[0], links=links + 1) if found else None


SYMLINK_MODE = "120000"
_MAX_LINKS = 8  # symlinks followed in a row (a loop is refused)


@dataclass(frozen=True)
class _Entry:
    name: str  # repository path
    mode: str
    sha: str
    size: int


# GitHub's refusals of a push to a protected branch: GH006 (branch protection rules),
# GH013 (repository rulesets). Both print "remote: error: GHxxx: ..." on stderr.
_PROTECTED_MARKS = ("GH006", "GH013")
LAND_HINT = (
    "set `git.land: pull-request` in leptonci.yaml so leptonci lands changes through "
    "auto-merge pull requests, or push with a GitHub App token that the branch's "
    'ruleset lets bypass (docs/github.md, "Protected main")'
)


def protected_branch(remote: str, branch: str, code: str) -> ProtectedBranch:
    return ProtectedBranch(
        f"push to {remote} {branch} refused: {branch} is a protected branch ({code})",
        hint=LAND_HINT,
    )


_REJECTED_MARKS = (
    "non-fast-forward",
    "fetch first",
    "[rejected]",
    "stale info",
    "cannot lock ref",
    "failed to update ref",
    "incorrect old value",
)


# what git (curl) prints when http.lowSpeedLimit/Time or a timeout ended a transfer
_STALL_MARKS = (
    "Operation too slow",
    "Operation timed out",
    "Connection timed out",
    "Timeout was reached",
    "timed out",
)


def _masked(url: str) -> str:
    """url with the password of its userinfo (if any) shown as ***."""
    if "://" not in url:
        return url
    scheme, rest = url.split("://", 1)
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if at and ":" in userinfo:
        userinfo = userinfo.split(":", 1)[0] + ":***"
    return f"{scheme}://{userinfo}{at}{host}{slash}{path}"


def _public_url(url: str) -> str:
    """Drop credentials and turn git@host:org/repo into https://host/org/repo."""
    if url.startswith("git@") and ":" in url:
        host, path = url[4:].split(":", 1)
        url = f"https://{host}/{path}"
    if "://" in url:
        scheme, rest = url.split("://", 1)
        authority, slash, path = rest.partition("/")
        # the last '@' ends the userinfo: a password may itself hold an unencoded '@'
        url = f"{scheme}://{authority.rpartition('@')[2]}{slash}{path}"
    if url.startswith("/") or url.startswith("file:"):
        return ""
    return url.removesuffix(".git")
