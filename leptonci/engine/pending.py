"""Promotions waiting for their merge, and whether each may still land.

A promotion into a ``pull-request`` environment waits as a branch
``leptonci/promote/ENV/RELEASE`` and, with GitHub reachable, an open pull request.
``pending_promotions`` lists them (GitHub's open pull requests, else the remote-tracking
branches main has not merged), each judged against its upstream as the given states have
it: upstream rolled the release back, quarantined it or moved on, or the environment went
on hold, and the promotion is stale (``stale_promotion``). ``close_stale_pulls`` closes
the stale pull requests, each with a comment saying why.

A merge is judged the same way, on the states just before it: ``merged_stale`` finds the
releases current in an environment whose promotion was already stale when it reached
main (a person merged a pull request that should have been closed). Settling refuses
those and ``leptonci validate`` reports them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from leptonci.adapters.git import Git
from leptonci.adapters.github import GitHub, settings_from_env
from leptonci.core.actions import ClosePullRequest
from leptonci.core.config import Config, EnvironmentConfig
from leptonci.core.errors import ConfigError, GitHubError
from leptonci.core.ledger import LEDGER_FILE, Ledger, ReleaseRecord
from leptonci.core.plan import Plan
from leptonci.engine.applier import Applier
from leptonci.engine.envfiles import parse_env_ledger, state_from_files
from leptonci.promotion.delivery import promote_branch
from leptonci.promotion.rules import stale_promotion
from leptonci.promotion.state import EnvState
from leptonci.runtime.context import Context

_ENTRY_DEPTH = 200  # first-parent commits searched for the one a current release entered by


@dataclass(frozen=True)
class Pending:
    """One promotion waiting for its merge."""

    env: str
    release: str
    branch: str
    pull_request: str | None = None  # the open pull request's URL (GitHub reachable)
    number: int | None = None
    stale: str | None = None  # why it may no longer land; None while it still may

    def to_dict(self) -> dict[str, Any]:
        return {
            "environment": self.env,
            "release": self.release,
            "branch": self.branch,
            "pull_request": self.pull_request,
            "number": self.number,
            "stale": self.stale,
        }

    def describe(self) -> str:
        where = f"pull request {self.pull_request}" if self.pull_request else self.branch
        state = f"stale: {self.stale}" if self.stale else "awaiting merge"
        return f"{self.env}: {self.release} ({where}, {state})"


def pending_promotions(ctx: Context, *, states: Mapping[str, EnvState]) -> list[Pending]:
    """Every promotion waiting for its merge, judged on states (env name -> state).

    Promotion branches are read as last fetched; GitHub, when configured, says which
    pull requests are open.
    """
    git = Git(ctx.root)
    repo = git.is_repo()
    settings = settings_from_env(ctx.env)
    github = GitHub(settings) if settings is not None else None
    remote, base = ctx.config.git.remote, ctx.config.git.branch
    main = git.branch_tip(remote, base, fetch=False) if repo else None
    found: list[Pending] = []
    for env in ctx.config.ordered_envs():
        if env.policy != "pull-request" or env.upstream is None:
            continue
        prefix = promote_branch(env.name, "")
        tips = dict(git.refs_under(f"refs/remotes/{remote}/{prefix}")) if repo else {}
        waiting: list[tuple[str, str | None, int | None]] | None = None
        if github is not None:
            try:
                pulls = github.open_pulls(base=base, head_prefix=prefix)
                waiting = [(pull.head, pull.url, pull.number) for pull in pulls]
            except GitHubError as exc:
                ctx.out.warn(f"{env.name}: could not list its pull requests: {exc}")
        if waiting is None:  # the branches main has not merged, as last fetched
            waiting = [
                (ref.removeprefix(f"refs/remotes/{remote}/"), None, None)
                for ref, tip in sorted(tips.items())
                if main is None or not git.is_ancestor(tip, main)
            ]
        for branch, url, number in waiting:
            release = branch.removeprefix(prefix)
            if not release or "/" in release:
                continue
            tip = tips.get(f"refs/remotes/{remote}/{branch}")
            record = _branch_record(git, env, tip, release) if tip else None
            stale = stale_promotion(
                release,
                target=states[env.name],
                upstream=states[env.upstream],
                record=record,
            )
            found.append(Pending(env.name, release, branch, url, number, stale))
    return found


def render_pending(pending: list[Pending]) -> str:
    """The pending promotions under the status table ("" when none)."""
    if not pending:
        return ""
    return "\npending promotions:\n" + "".join(f"  {p.describe()}\n" for p in pending)


def _branch_record(
    git: Git, env: EnvironmentConfig, tip: str, release: str
) -> ReleaseRecord | None:
    """The release as the promotion branch's ledger records it (None when unreadable)."""
    text = git.file_at(tip, f"{env.path}/{LEDGER_FILE}")
    if text is None:
        return None
    try:
        return parse_env_ledger(env, text).find(release)
    except ConfigError:
        return None


def close_stale_pulls(
    ctx: Context, *, state_of: Callable[[EnvironmentConfig], EnvState]
) -> tuple[ClosePullRequest, ...]:
    """Close every open promotion pull request that went stale, each with a comment
    saying why (a dry run only plans it); the actions, applied or planned.

    ``state_of``: an environment as the main branch has it now. Needs GitHub: without
    it there is no pull request to close.
    """
    envs = [e for e in ctx.config.ordered_envs() if e.policy == "pull-request"]
    if not envs or settings_from_env(ctx.env) is None:
        return ()
    git = Git(ctx.root)
    if git.is_repo() and (ctx.fetch or not ctx.dry_run):
        for env in envs:  # the branches' ledgers say which promotions were forced
            git.fetch_prefix(ctx.config.git.remote, promote_branch(env.name, ""))
    states = {env.name: state_of(env) for env in ctx.config.ordered_envs()}
    repository = ctx.env.get("GITHUB_REPOSITORY", "")
    actions = tuple(
        ClosePullRequest(
            summary=f"close pull request #{p.number} ({p.branch}): {p.stale}",
            repository=repository,
            number=p.number,
            env=p.env,
            release=p.release,
            reason=p.stale,
        )
        for p in pending_promotions(ctx, states=states)
        if p.number is not None and p.stale
    )
    if actions and not ctx.dry_run:
        Applier(ctx, git).apply(Plan("close stale promotion pull requests", actions))
    return actions


def merged_stale(
    config: Config, git: Git, env: EnvironmentConfig, *, rev: str, ledger: Ledger
) -> dict[str, str]:
    """model -> why, for each release current in env (ledger, as at rev) whose promotion
    was already stale when it reached rev's first-parent history (judged on the commit
    before it). Only environments that promote by pull request: there a person merges,
    and may merge late; leptonci's own landings are checked on the tip they land on.
    Rollbacks, releases entered without an upstream and history not in the clone (a
    shallow one) are left alone."""
    if env.upstream is None or env.policy != "pull-request" or not git.is_repo():
        return {}
    upstream = config.env(env.upstream)
    problems: dict[str, str] = {}
    for model, record in sorted(ledger.current.items()):
        if record.action == "rollback" or record.from_env != upstream.name:
            continue
        entry = _entry_commit(git, env, rev=rev, record=record)
        if entry is None:
            continue
        before = f"{entry}^"
        try:
            target = state_from_files(env, git.tree_files(before, env.path))
            source = state_from_files(upstream, git.tree_files(before, upstream.path))
        except ConfigError:
            continue  # a ledger broken back then: validate reports today's files
        problem = stale_promotion(record.release, target=target, upstream=source, record=record)
        if problem is not None:
            problems[model] = f"{record.release} reached {env.name} stale ({problem})"
    return problems


def _entry_commit(
    git: Git, env: EnvironmentConfig, *, rev: str, record: ReleaseRecord
) -> str | None:
    """The first-parent commit of rev that made record current in env (None: not found,
    or it has no parent in this clone)."""
    log = git.run(
        "log",
        "--first-parent",
        f"-n{_ENTRY_DEPTH}",
        "--format=%H",
        rev,
        "--",
        env.path,
        check=False,
    )
    ledger_path = f"{env.path}/{LEDGER_FILE}"
    for commit in log.stdout.split() if log.ok else ():
        if not git.run("rev-parse", "--verify", "--quiet", f"{commit}^", check=False).ok:
            return None
        text = git.file_at(f"{commit}^", ledger_path)
        try:
            earlier = parse_env_ledger(env, text).current_for(record.model) if text else None
        except ConfigError:
            earlier = None
        if earlier is None or (earlier.release, earlier.digest) != (record.release, record.digest):
            return commit
    return None
