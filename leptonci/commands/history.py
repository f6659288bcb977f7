"""`leptonci history ENV`: an environment's releases, from its ledger or from git alone.

``--from-git`` replays the ``Leptonci-*`` trailers of the commits that touched the
environment's folder, so the history survives a lost or hand-edited ledger file. In a
shallow clone that history would be cut: refused, unless ``--deepen`` fetches the rest.
"""

from __future__ import annotations

from leptonci.adapters.git import Git
from leptonci.core.errors import UsageError
from leptonci.core.imageref import short_digest
from leptonci.core.ledger import Ledger, ReleaseRecord
from leptonci.core.tables import render_table
from leptonci.core.trailers import CommitTrailers, history_from_commits, parse_trailers
from leptonci.engine.envfiles import read_worktree
from leptonci.runtime.context import Context


def ledger_timeline(ledger: Ledger) -> list[ReleaseRecord]:
    """Current releases and the bounded history, newest first."""
    records = [*ledger.current.values(), *ledger.history]
    return sorted(records, key=lambda r: r.at, reverse=True)  # stable: ties keep ledger order


def history_from_git(
    ctx: Context, *, env: str, rev: str = "HEAD", deepen: bool = False
) -> list[ReleaseRecord]:
    """Rebuild env's release records, newest first, from commit trailers alone.

    A shallow clone holds only the newest commits: its history would be cut without a
    word, so it is refused unless ``deepen`` fetches the rest first."""
    where = ctx.config.env(env)
    git = Git(ctx.root, deadlines=ctx.deadlines)
    if not git.is_repo():
        raise UsageError(
            f"{ctx.root} is not a git repository", hint="run history without --from-git"
        )
    if git.is_shallow():
        if not deepen:
            raise UsageError(
                f"{ctx.root} is a shallow clone: the history from git would be cut at its "
                "oldest fetched commit",
                hint="rerun with --deepen to fetch the rest of the history from "
                f"{ctx.config.git.remote}, or check out with full history "
                "(actions/checkout with fetch-depth: 0)",
            )
        ctx.out.info(f"{ctx.root} is a shallow clone: fetching the rest of its history")
        git.deepen(ctx.config.git.remote)
    commits = [
        CommitTrailers(commit, parse_trailers(block.splitlines()))
        for commit, block in git.log_trailers(rev, [where.path])
    ]
    return history_from_commits(env, commits)


def run(ctx: Context, *, env: str, from_git: bool, limit: int | None, deepen: bool = False) -> int:
    where = ctx.config.env(env)
    if limit is not None and limit < 1:
        raise UsageError("--limit must be a positive number")
    if deepen and not from_git:
        raise UsageError("--deepen goes with --from-git", hint="add --from-git")
    if from_git:
        records = history_from_git(ctx, env=env, deepen=deepen)
    else:
        records = ledger_timeline(read_worktree(ctx.root, where).ledger)
    shown = records[:limit] if limit else records
    rows = [
        [
            r.release,
            short_digest(r.digest),
            r.action,
            r.from_env or "-",
            r.at or "-",
            r.by or "-",
            r.verification.result,
        ]
        for r in shown
    ]
    headers = ["RELEASE", "DIGEST", "ACTION", "FROM", "AT", "BY", "VERIFICATION"]
    text = render_table(headers, rows) if rows else f"no releases in {env} yet\n"
    ctx.out.result(
        {
            "environment": env,
            "source": "git" if from_git else "ledger",
            "history": [r.to_dict() for r in shown],
        },
        text,
    )
    return 0
