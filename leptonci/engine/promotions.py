"""The environment changes commands ask for, each a pure planner landed by the engine.

Entering a new build into the first environment, promoting from an upstream, rolling
back, unblocking, resuming, and recording a verification: each function here builds
the planner (pure calls into ``leptonci.promotion`` on the snapshot it is given) and
hands it to ``land``. What follows the commit (push to main or a promotion branch with
its pull request, the GitHub deployment, a direct cluster apply) comes from
``leptonci.promotion.delivery``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from leptonci.adapters.git import Git
from leptonci.core.actions import Action, OpenPullRequest, SetDeploymentStatus
from leptonci.core.attestation import Evidence
from leptonci.core.config import EnvironmentConfig
from leptonci.core.errors import PromotionRefused, UsageError
from leptonci.core.ledger import ReleaseRecord, Verification
from leptonci.core.trailers import one_line
from leptonci.engine.applier import Applied
from leptonci.engine.landing import Landed, Proposal, Snapshot, land
from leptonci.engine.pending import merged_stale
from leptonci.promotion.delivery import (
    branch_carries,
    deploy_actions,
    land_actions,
    promote_branch,
    pull_request_actions,
)
from leptonci.promotion.plans import (
    plan_entry,
    plan_promotion,
    plan_resume,
    plan_rollback,
    plan_unblock,
    plan_verification,
)
from leptonci.promotion.pr_body import Links, pull_request_body
from leptonci.promotion.state import Change, EnvState
from leptonci.runtime.context import Context

UNSETTLED = ("unverified", "pending")  # current releases nobody has verified yet


def _to_main(
    ctx: Context,
    snap: Snapshot,
    env: EnvironmentConfig,
    changes: Sequence[Change],
    releases: Sequence[str] = (),
) -> tuple[Action, ...]:
    """How changes reach main (a push, or an auto-merge pull request) and what follows."""
    deploy = deploy_actions(
        env, releases=releases, repository=snap.repository, objects=snap.objects.get(env.name, ())
    )
    return land_actions(
        ctx.config,
        env=env,
        changes=changes,
        repository=snap.repository,
        branches=snap.land_branches,
        after_main=deploy,
    )


def enter_release(
    ctx: Context,
    record: ReleaseRecord,
    *,
    overlay: Mapping[str, EnvState] | None = None,
    planned: Mapping[str, Evidence] | None = None,
) -> Landed:
    """A freshly built release entering the first environment (the push-to-main flow).

    ``planned``: a dry run's attestations, not attached yet, by digest."""
    env = ctx.config.first_env()
    at, actor = ctx.now(), ctx.actor

    def propose(snap: Snapshot) -> Proposal:
        change = plan_entry(
            ctx.config, target=snap[env], record=record, actor=actor, at=at, attested=snap.attested
        )
        follow = () if change.noop else _to_main(ctx, snap, env, [change], [record.release])
        return Proposal(f"release {record.release} into {env.name}", (change,), follow)

    return land(ctx, propose, writes=[env], overlay=overlay, planned=planned)


def promote_into(
    ctx: Context,
    *,
    env: EnvironmentConfig,
    release: str | None,
    model: str | None,
    force: bool = False,
    reason: str = "",
    automatic: bool,
    overlay: Mapping[str, EnvState] | None = None,
    planned: Mapping[str, Evidence] | None = None,
) -> Landed:
    """Move a release current (and verified) in env's upstream into env."""
    if env.upstream is None:
        raise UsageError(
            f"{env.name} has no upstream: releases enter it from `leptonci run push`",
            hint="promote into an environment that has an upstream",
        )
    up_env = ctx.config.env(env.upstream)
    at, actor = ctx.now(), ctx.actor
    by_pull_request = env.policy == "pull-request"

    def propose(snap: Snapshot) -> Proposal:
        target, upstream = snap[env], snap[up_env]
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
                attested=snap.attested,
            )
            changes.append(change)
            state = change.state
        moved = [c for c in changes if not c.noop]
        title = f"promote into {env.name}"
        if not moved:
            return Proposal(title, tuple(changes))
        rel = str(moved[0].after)
        if not by_pull_request:
            releases = [str(c.after) for c in moved]
            return Proposal(title, tuple(changes), _to_main(ctx, snap, env, moved, releases))
        pr_title = f"Promote {rel} to {env.name}"
        links = None
        if snap.repository:
            server = ctx.env.get("GITHUB_SERVER_URL") or "https://github.com"
            links = Links(server.rstrip("/"), snap.repository, ctx.config.git.branch)
        body = pull_request_body(
            moved,
            target=target,
            upstream=upstream,
            links=links,
            precision=ctx.config.report.precision,
        )
        follow = pull_request_actions(
            ctx.config,
            target=target,
            release=rel,
            title=pr_title,
            body=body,
            repository=snap.repository,
        )
        if branch_carries(target, rel, moved):
            # Re-pushing would only change timestamps, yet dismiss the PR's approvals:
            # leave the branch alone and just make sure its pull request is open.
            waiting = f"{promote_branch(env.name, rel)} already carries it; awaiting the merge"
            changes = [
                replace(c, after=c.before, actions=(), message=f"{c.after}: {waiting}")
                for c in changes
            ]
            follow = tuple(a for a in follow if isinstance(a, OpenPullRequest))
        return Proposal(title, tuple(changes), follow)

    return land(ctx, propose, writes=[env], overlay=overlay, planned=planned)


def rollback_in(
    ctx: Context, *, env: EnvironmentConfig, model: str | None, to: str | None, reason: str
) -> Landed:
    """Restore the previous (or named) release: a new commit, quarantine, hold."""
    at, actor = ctx.now(), ctx.actor

    def propose(snap: Snapshot) -> Proposal:
        state = snap[env]
        if model is not None or to is not None:
            models: list[str | None] = [model]
        else:
            models = list(state.ledger.current)
            if not models:
                raise PromotionRefused(f"{env.name} has no release to roll back")
            if len(models) > 1:
                # rolling every model back would quarantine the healthy ones' digests
                raise UsageError(
                    f"{env.name} runs several models ({', '.join(sorted(state.ledger.current))}); "
                    "name the release to restore",
                    hint="; ".join(rollback_choices(state, env.name)),
                )
        changes: list[Change] = []
        for name in models:
            change = plan_rollback(
                ctx.config,
                target=state,
                model=name,
                to=to,
                reason=reason,
                actor=actor,
                at=at,
                attested=snap.attested,
            )
            changes.append(change)
            state = change.state
        restored = [str(c.after) for c in changes if c.after and not c.noop]
        follow = _to_main(ctx, snap, env, changes, restored) if restored else ()
        return Proposal(f"roll back {env.name}", tuple(changes), follow)

    return land(ctx, propose, writes=[env])


def rollback_choices(state: EnvState, env: str) -> list[str]:
    out = []
    for name, record in sorted(state.ledger.current.items()):
        previous = state.ledger.previous_for(name)
        if previous is not None:
            out.append(
                f"`leptonci rollback {env} --to {previous.release}` restores {name}'s "
                f"previous release (now {record.release})"
            )
        else:
            out.append(f"{name} has no earlier release in {env}")
    return out


def unblock_in(ctx: Context, *, env: EnvironmentConfig, target: str) -> Landed:
    at, actor = ctx.now(), ctx.actor

    def propose(snap: Snapshot) -> Proposal:
        change = plan_unblock(snap[env], what=target, actor=actor, at=at)
        follow = () if change.noop else _to_main(ctx, snap, env, [change])
        return Proposal(f"unblock {target} in {env.name}", (change,), follow)

    return land(ctx, propose, writes=[env])


def resume_in(ctx: Context, *, env: EnvironmentConfig) -> Landed:
    at, actor = ctx.now(), ctx.actor

    def propose(snap: Snapshot) -> Proposal:
        change = plan_resume(snap[env], actor=actor, at=at)
        follow = () if change.noop else _to_main(ctx, snap, env, [change])
        return Proposal(f"resume {env.name}", (change,), follow)

    return land(ctx, propose, writes=[env])


def record_verification(
    ctx: Context,
    *,
    env: EnvironmentConfig,
    model: str,
    verification: Verification,
    after: Applied | None = None,
) -> Landed:
    """Write a verification result into env's ledger (a commit with a verify trailer);
    the GitHub deployment the promotion opened (``after``) gets its final status."""
    clean = replace(verification, detail=one_line(verification.detail))
    deployment = after.deployment_id if after is not None else None

    def propose(snap: Snapshot) -> Proposal:
        change = plan_verification(snap[env], model=model, verification=clean)
        follow: tuple[Action, ...] = () if change.noop else _to_main(ctx, snap, env, [change])
        if deployment is not None and snap.repository is not None:
            state = "failure" if clean.result == "failed" else "success"
            follow += (deployment_status(snap.repository, env, state, clean.detail),)
        return Proposal(f"record verification in {env.name}", (change,), follow)

    return land(ctx, propose, writes=[env], carry=after)


def deployment_status(
    repository: str, env: EnvironmentConfig, state: str, detail: str
) -> SetDeploymentStatus:
    """The final status (success, failure, error) of the deployment a landing opened."""
    return SetDeploymentStatus(
        summary=f"set the GitHub deployment to {env.name} to {state}",
        repository=repository,
        environment=env.name,
        state=state,
        description=one_line(detail)[:140] or state,
    )


def settle_merged(
    ctx: Context, *, env: EnvironmentConfig, overlay: Mapping[str, EnvState] | None = None
) -> Landed:
    """Apply and record the deployment of releases that reached main unverified (a merged
    promotion pull request, a run that died before verifying); ``Landed.models`` names
    them."""

    def propose(snap: Snapshot) -> Proposal:
        ledger = snap[env].ledger
        models = tuple(
            m
            for m, record in ledger.current.items()
            if m in ctx.config.models and record.verification.result in UNSETTLED
        )
        stale = (
            merged_stale(ctx.config, Git(ctx.root), env, rev=snap.tip, ledger=ledger)
            if models and snap.tip
            else {}
        )
        refused = [stale[m] for m in models if m in stale]
        if refused:
            # never apply, verify or record what should not have merged
            raise PromotionRefused(
                f"{'; '.join(refused)}: not applying, verifying or recording it",
                hint=f"restore the release before it with `leptonci rollback {env.name}` "
                "(quarantines it there too)",
            )
        releases = [ledger.current[m].release for m in models]
        follow = deploy_actions(
            env,
            releases=releases,
            repository=snap.repository,
            objects=snap.objects.get(env.name, ()),
        )
        return Proposal(f"settle {env.name}", (), follow, models=models)

    return land(ctx, propose, writes=[env], overlay=overlay)


def after_landing(
    ctx: Context, *, env: EnvironmentConfig, landed: Landed
) -> tuple[bool, Applied | None]:
    """Whether landed's change is on main now, and the result to settle it after.

    Pushed to main: the landing's own result (its deployment). A landing pull request
    GitHub merged at once: what follows a merge (the deployment, a direct apply), done
    now as ``leptonci run push`` would. Otherwise (a pull request awaiting its checks,
    reviews or a person's merge, or a dry run): not on main yet.
    """
    applied = landed.applied
    if applied is None:
        return False, None
    if applied.landed:
        return True, applied
    if applied.merged:
        settled = settle_merged(ctx, env=env)
        return True, settled.applied
    return False, None
