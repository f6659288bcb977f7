"""`leptonci promote`, and the engine every ledger-writing command lands its plan with.

``land`` fetches the remote tip, builds the plan on it (the caller's ``propose``
function: pure planner calls on freshly read environment folders), and applies it:
atomic file writes, one commit per change, one push. A push rejected as
non-fast-forward means someone landed first: fetch, rebuild the plan on the new tip
(never a textual rebase) and retry with jittered backoff, a bounded number of times.
When the environment moved to another release meanwhile, it stops with a
``ConflictError``. With ``ctx.dry_run`` the same plan is built from the working tree
and returned unapplied.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from leptonci.adapters.git import Git
from leptonci.core.config import EnvironmentConfig
from leptonci.core.errors import ConflictError, GitError, PromotionRefused, PushRejected, UsageError
from leptonci.core.plan import (
    Action,
    ApiCall,
    GitCommit,
    GitPush,
    Plan,
    Step,
    WriteFile,
    apply_plan,
)
from leptonci.engine.deploy import (
    CREATE_DEPLOYMENT,
    KUBERNETES,
    apply_to_cluster,
    deploy_actions,
    start_deployment,
)
from leptonci.engine.envfiles import read_tree, read_worktree
from leptonci.promotion.plans import Change, EnvState, plan_promotion, promote_branch, push_actions
from leptonci.runtime.context import Context

JOURNAL = "leptonci-apply.json"
Reader = Callable[[EnvironmentConfig], EnvState]


@dataclass(frozen=True)
class Proposal:
    title: str
    changes: tuple[Change, ...]
    push: tuple[Action, ...] = ()

    def plan(self) -> Plan:
        actions = [a for c in self.changes for a in c.actions]
        if not actions and not self.push:
            return Plan(self.title, (), tuple(c.message for c in self.changes))
        # no change but push actions: the cluster apply and GitHub deployment of a
        # release that reached main some other way (a merged promotion pull request)
        return Plan(self.title, (*actions, *self.push))


@dataclass
class Outcome:
    plan: Plan
    changes: tuple[Change, ...]
    applied: bool = False
    commit: str | None = None
    attempts: int = 0
    pull_request: str | None = None
    deployment_id: int | None = None  # the GitHub deployment this landing opened
    notes: list[str] = field(default_factory=list)

    @property
    def noop(self) -> bool:
        return self.plan.empty


def land(
    ctx: Context,
    propose: Callable[[Reader], Proposal],
    *,
    paths: Sequence[str],
    overlay: dict[str, EnvState] | None = None,
) -> Outcome:
    """Plan on the remote tip and apply; with ctx.dry_run plan on the working tree only."""

    def read(env: EnvironmentConfig) -> EnvState:
        if overlay is not None and env.name in overlay:
            return overlay[env.name]
        return read_worktree(ctx.root, env)

    if ctx.dry_run:
        proposal = propose(read)
        return Outcome(proposal.plan(), proposal.changes)
    git = Git(ctx.root)
    remote, branch = ctx.config.git.remote, ctx.config.git.branch
    recover_interrupted(git, ctx.root)
    first: Proposal | None = None
    retries = ctx.config.git.push_retries
    for attempt in range(1, retries + 2):
        tip = git.fetch(remote, branch)
        _move_to_tip(git, tip, paths, remote=remote, branch=branch)
        proposal = propose(read)
        if first is None:
            first = proposal
        else:
            _check_conflict(first, proposal)
        plan = proposal.plan()
        outcome = Outcome(plan, proposal.changes, attempts=attempt)
        if plan.empty:
            return outcome
        to_branch = any(isinstance(a, GitPush) and a.branch != branch for a in plan.actions)
        try:
            _apply(ctx, git, plan, outcome)
        except PushRejected:
            git.reset_keep(tip)
            if attempt > retries:
                break
            delay = min(5.0, 0.2 * 2 ** (attempt - 1)) * random.uniform(0.5, 1.5)
            ctx.out.info(
                f"{remote} {branch} moved meanwhile; rebuilding the plan (retry {attempt})"
            )
            time.sleep(delay)
            continue
        except BaseException:
            # Once main has the commit, the clone stays on it: what failed came after
            # (the cluster apply) and the commit is the truth to retry from.
            if not outcome.applied or to_branch:
                _undo(git, tip, paths)
            raise
        if to_branch:
            git.reset_keep(tip)  # the promotion went to a pull-request branch, not to main
        return outcome
    raise GitError(
        f"push to {remote} {branch} kept being rejected ({retries + 1} attempts)",
        hint="others are landing changes; rerun, or raise git.push_retries",
    )


def _move_to_tip(git: Git, tip: str, paths: Sequence[str], *, remote: str, branch: str) -> None:
    dirty = git.dirty_paths(paths)
    if dirty:
        raise UsageError(
            f"uncommitted changes in {', '.join(dirty[:5])}",
            hint="commit or stash them first; leptonci writes these folders itself",
        )
    head = git.run("rev-parse", "--verify", "--quiet", "HEAD", check=False).stdout.strip()
    if head and not git.is_ancestor(head, tip):
        foreign = [
            c for c in git.commits_between(tip, head) if "Leptonci-Action:" not in git.message(c)
        ]
        if foreign:
            raise UsageError(
                f"HEAD has {len(foreign)} commit(s) not on {remote}/{branch}",
                hint="push or rebase them first, so the promotion lands on the remote tip",
            )
        # only leptonci commits of an earlier, unpushed attempt: dropped, the plan is rebuilt
    git.reset_keep(tip)


def _check_conflict(first: Proposal, now: Proposal) -> None:
    for old in first.changes:
        if old.model is None or old.noop:
            continue
        new = next((c for c in now.changes if (c.env, c.model) == (old.env, old.model)), None)
        if new is None or new.before == old.before or new.before == old.after:
            continue
        raise ConflictError(
            f"{old.env} moved from {old.before or 'nothing'} to {new.before} for {old.model} "
            f"meanwhile; not replacing it with {old.after}",
            hint=f"check `leptonci history {old.env}` and rerun if {old.after} should still go in",
        )


def _apply(ctx: Context, git: Git, plan: Plan, outcome: Outcome) -> None:
    journal = git.git_dir() / JOURNAL

    def write(action: WriteFile) -> None:
        if not journal.exists():
            journal.write_text(json.dumps({"pid": os.getpid(), "paths": _folders(plan)}))
        write_atomic(ctx.root / action.path, action.new)

    def commit(action: GitCommit) -> None:
        author = ctx.config.git
        outcome.commit = git.commit_paths(
            action.paths,
            action.full_message(),
            author_name=author.author_name,
            author_email=author.author_email,
        )
        journal.unlink(missing_ok=True)

    def push(action: GitPush) -> None:
        git.push(action.remote, action.ref)
        outcome.applied = True

    def api(action: ApiCall) -> None:
        if action.system == KUBERNETES:
            apply_to_cluster(
                ctx,
                action,
                commit=outcome.commit or git.head(),
                deployment_id=outcome.deployment_id,
            )
        elif action.method == CREATE_DEPLOYMENT:
            outcome.deployment_id = start_deployment(ctx, action, ref=outcome.commit or git.head())
        else:
            outcome.pull_request = _open_pull_request(ctx, action)

    def step(action: Step) -> None:
        return None

    apply_plan(plan, {WriteFile: write, GitCommit: commit, GitPush: push, ApiCall: api, Step: step})


def _folders(plan: Plan) -> list[str]:
    return sorted({p for a in plan.actions if isinstance(a, GitCommit) for p in a.paths})


def _undo(git: Git, tip: str, paths: Sequence[str]) -> None:
    try:
        if git.head() != tip:
            git.reset_keep(tip)
        git.restore_paths(paths)
        (git.git_dir() / JOURNAL).unlink(missing_ok=True)
    except GitError:
        pass  # the original error is the one to report


def write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".leptonci-tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def recover_interrupted(git: Git, root: Path) -> None:
    """Undo what a killed earlier run left in this clone: half-written folders, a stale lock."""
    journal = git.git_dir() / JOURNAL
    if not journal.exists():
        return
    try:
        data = json.loads(journal.read_text())
    except (OSError, ValueError):
        data = {}
    pid = int(data.get("pid") or 0)
    if pid and pid != os.getpid() and _alive(pid):
        raise UsageError(f"another leptonci run (pid {pid}) is writing in this clone; wait for it")
    lock = git.git_dir() / "index.lock"
    for _ in range(50):  # a git child of the killed run may still be finishing
        if not lock.exists():
            break
        time.sleep(0.1)
    lock.unlink(missing_ok=True)
    folders = [str(p) for p in data.get("paths") or []]
    for folder in folders:
        for tmp in (root / folder).glob(".*.leptonci-tmp"):
            tmp.unlink(missing_ok=True)
    if folders:
        git.run("reset", "--quiet", "--", *folders, check=False)
        git.restore_paths(folders)
    journal.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _open_pull_request(ctx: Context, action: ApiCall) -> str | None:
    payload = action.payload
    if not (ctx.env.get("GITHUB_TOKEN") and ctx.env.get("GITHUB_REPOSITORY")):
        ctx.out.info(
            f"GitHub is not configured (GITHUB_TOKEN, GITHUB_REPOSITORY): open the pull request "
            f"{payload['head']} -> {payload['base']} by hand"
        )
        return None
    from leptonci.engine.github_records import open_promotion_pr

    parts = str(payload["head"]).split("/")
    return open_promotion_pr(
        ctx,
        env=parts[2],
        release=parts[3],
        branch=str(payload["head"]),
        base=str(payload["base"]),
        title=str(payload["title"]),
        body=str(payload["body"]),
    )


# -- leptonci promote -----------------------------------------------------------------


def promote_command(
    ctx: Context, *, to: str, release: str | None, force: bool, reason: str | None
) -> int:
    env = ctx.config.env(to)
    if env.upstream is None:
        raise UsageError(
            f"{to} has no upstream: releases enter it from `leptonci run push`",
            hint="promote into an environment that has an upstream",
        )
    outcome = promote_into(
        ctx,
        env=env,
        release=release,
        model=None,
        force=force,
        reason=reason or "",
        automatic=False,
    )
    report(ctx, outcome, done=f"promoted into {to}")
    if outcome.applied and env.policy != "pull-request":
        from leptonci.engine.settling import verify_after

        for change in outcome.changes:
            if change.model and not change.noop:
                verify_after(ctx, env=env, model=change.model, deployment_id=outcome.deployment_id)
    return 0


def promote_into(
    ctx: Context,
    *,
    env: EnvironmentConfig,
    release: str | None,
    model: str | None,
    force: bool = False,
    reason: str = "",
    automatic: bool,
    overlay: dict[str, EnvState] | None = None,
) -> Outcome:
    """Plan (and unless dry-run, land) a promotion from env's upstream into env."""
    assert env.upstream is not None
    up_env = ctx.config.env(env.upstream)
    at, actor = ctx.now(), ctx.actor
    pull_request = env.policy == "pull-request"

    def propose(read: Reader) -> Proposal:
        target, upstream = read(env), read(up_env)
        if release is not None or model is not None:
            wanted: list[str | None] = [model]
        else:
            wanted = [m for m in ctx.config.models if upstream.ledger.current_for(m)]
            if not wanted:
                raise PromotionRefused(
                    f"{up_env.name} has no release to promote into {env.name}",
                    hint=f"promote one into {up_env.name} first",
                )
        changes: list[Change] = []
        state = target
        for name in wanted:
            change = plan_promotion(
                ctx.config,
                target=state,
                upstream=upstream,
                model=name,
                release=release,
                force=force,
                reason=reason,
                automatic=automatic,
                actor=actor,
                at=at,
            )
            changes.append(change)
            state = change.state
        moved = [c for c in changes if not c.noop]
        rel = moved[0].after if moved else None
        title = f"Promote {rel} to {env.name}" if rel else f"promote into {env.name}"
        body = (
            pull_request_body(ctx, moved, target=target, upstream=upstream) if pull_request else ""
        )
        push = push_actions(
            ctx.config, env=env, release=rel, pull_request=pull_request, title=title, body=body
        )
        if not pull_request:
            push += deploy_actions(ctx, env, releases=[c.after for c in moved if c.after])
        elif rel is not None and _branch_carries(ctx, env, promote_branch(env.name, rel), moved):
            # Re-pushing would only change timestamps, yet dismiss the PR's approvals:
            # leave the branch alone and just make sure its pull request is open.
            waiting = f"{promote_branch(env.name, rel)} already carries it; awaiting the merge"
            changes = [
                replace(c, after=c.before, actions=(), message=f"{c.after}: {waiting}")
                for c in changes
            ]
            push = tuple(a for a in push if isinstance(a, ApiCall))
        return Proposal(f"promote into {env.name}", tuple(changes), push if moved else ())

    return land(ctx, propose, paths=[env.path], overlay=overlay)


def _branch_carries(
    ctx: Context, env: EnvironmentConfig, branch: str, moved: Sequence[Change]
) -> bool:
    """Whether the remote's promotion branch already promotes moved onto env as it is now."""
    git = Git(ctx.root)
    tip = git.branch_tip(ctx.config.git.remote, branch, fetch=not ctx.dry_run)
    if tip is None or not git.same_content(f"{tip}^", "HEAD", env.path):
        return False
    ledger = read_tree(git, tip, env).ledger
    for change in moved:
        after = change.state.ledger.current_for(change.model or "")
        there = ledger.current_for(change.model or "")
        if after is None or there is None:
            return False
        if (there.release, there.digest, there.action) != (
            after.release,
            after.digest,
            after.action,
        ):
            return False
    return True


def pull_request_body(
    ctx: Context, changes: Sequence[Change], *, target: EnvState, upstream: EnvState
) -> str:
    """Plan, manifest diff, metric deltas and provenance of a promotion, as Markdown."""
    out: list[str] = []
    for change in changes:
        rec = change.state.ledger.current_for(change.model or "")
        if rec is None:
            continue
        old = target.ledger.current_for(rec.model)
        up = upstream.ledger.current_for(rec.model)
        out += [f"## {rec.release} into {change.env}", "", "| | |", "|---|---|"]
        out += [
            f"| model | {rec.model} (`{rec.model_hash}`) |",
            f"| image | `{rec.image_ref}` |",
            f"| source | `{rec.source_commit or '-'}` |",
            f"| replaces | {old.release if old else 'nothing'} |",
            f"| from | {upstream.name}, verification {up.verification.result if up else '-'} |",
            "",
            "| metric | this release | now in " + change.env + " | delta |",
            "|---|---|---|---|",
        ]
        for name, value in sorted(rec.metrics.items()):
            before = old.metrics.get(name) if old else None
            delta = f"{value - before:+.4f}" if before is not None else "no baseline"
            shown = f"{before:.4f}" if before is not None else "-"
            out.append(f"| {name} | {value:.4f} | {shown} | {delta} |")
        out.append("")
    plan = Plan("promotion", tuple(a for c in changes for a in c.actions))
    out.append(plan.render_markdown())
    return "\n".join(out)


def report(ctx: Context, outcome: Outcome, *, done: str) -> None:
    """Print the plan (dry run) or what was done; --json gets one document."""
    plan = outcome.plan
    data: dict[str, Any] = {
        "dry_run": ctx.dry_run,
        "applied": outcome.applied,
        "commit": outcome.commit,
        "pull_request": outcome.pull_request,
        "changes": [
            {
                "env": c.env,
                "model": c.model,
                "before": c.before,
                "after": c.after,
                "message": c.message,
            }
            for c in outcome.changes
        ],
        "plan": plan.to_dict(),
    }
    if plan.empty:
        text = plan.render_text() + "nothing to do\n"
    elif ctx.dry_run:
        text = plan.render_text() + "dry run: nothing was written\n"
    else:
        text = plan.render_text() + f"{done} ({(outcome.commit or '')[:12]})\n"
        ctx.out.summary(plan.render_markdown())
    for action in plan.actions:
        if isinstance(action, ApiCall) and action.target == "pulls" and not ctx.json:
            text += f"\npull request title: {action.payload['title']}\n\n{action.payload['body']}\n"
    ctx.out.result(data, text)
