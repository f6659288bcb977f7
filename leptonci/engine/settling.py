"""`leptonci rollback`, `unblock` and `resume`, and verification after a promotion.

A rollback is a plan derived from the ledger: the previous (or named) release's image
pinned again as a new commit on top, the bad digest quarantined, automatic promotion
into the environment held. Never a force-push. Like a promotion, it is applied to a
``direct`` cluster and recorded as a GitHub deployment (``flows.deploy``).
"""

from __future__ import annotations

from leptonci.core.config import EnvironmentConfig
from leptonci.core.errors import LeptonError, PromotionRefused, UsageError, VerificationFailed
from leptonci.core.ledger import Verification
from leptonci.core.plan import Action
from leptonci.core.trailers import one_line
from leptonci.engine.deploy import deploy_actions, finish_deployment
from leptonci.engine.landing import Outcome, Proposal, Reader, land, report
from leptonci.promotion.plans import (
    NO_CLUSTER,
    Change,
    EnvState,
    plan_resume,
    plan_rollback,
    plan_unblock,
    plan_verification,
    push_actions,
)
from leptonci.runtime.context import Context


def _direct(ctx: Context, env: EnvironmentConfig) -> tuple[Action, ...]:
    return push_actions(ctx.config, env=env, release=None, pull_request=False)


def rollback_in(
    ctx: Context, *, env: EnvironmentConfig, model: str | None, to: str | None, reason: str
) -> Outcome:
    at, actor = ctx.now(), ctx.actor

    def propose(read: Reader) -> Proposal:
        state = read(env)
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
                    hint="; ".join(_choices(state, env.name)),
                )
        changes: list[Change] = []
        for name in models:
            change = plan_rollback(
                ctx.config, target=state, model=name, to=to, reason=reason, actor=actor, at=at
            )
            changes.append(change)
            state = change.state
        restored = [c.after for c in changes if c.after and not c.noop]
        push = _direct(ctx, env) + deploy_actions(ctx, env, releases=restored)
        return Proposal(f"roll back {env.name}", tuple(changes), push)

    return land(ctx, propose, paths=[env.path])


def _choices(state: EnvState, env: str) -> list[str]:
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


def rollback_command(ctx: Context, *, env: str, to: str | None, reason: str | None) -> int:
    target = ctx.config.env(env)
    outcome = rollback_in(ctx, env=target, model=None, to=to, reason=reason or "manual rollback")
    report(ctx, outcome, done=f"rolled back {env}; automatic promotion into {env} is on hold")
    if outcome.applied:
        for change in outcome.changes:
            if change.model:
                verify_after(
                    ctx,
                    env=target,
                    model=change.model,
                    may_roll_back=False,
                    deployment_id=outcome.deployment_id,
                )
    return 0


def unblock_command(ctx: Context, *, env: str, target: str) -> int:
    where = ctx.config.env(env)
    at, actor = ctx.now(), ctx.actor

    def propose(read: Reader) -> Proposal:
        change = plan_unblock(read(where), what=target, actor=actor, at=at)
        push = () if change.noop else _direct(ctx, where)
        return Proposal(f"unblock {target} in {env}", (change,), push)

    report(ctx, land(ctx, propose, paths=[where.path]), done=f"unblocked {target} in {env}")
    return 0


def resume_command(ctx: Context, *, env: str) -> int:
    where = ctx.config.env(env)
    at, actor = ctx.now(), ctx.actor

    def propose(read: Reader) -> Proposal:
        change = plan_resume(read(where), actor=actor, at=at)
        push = () if change.noop else _direct(ctx, where)
        return Proposal(f"resume {env}", (change,), push)

    report(
        ctx, land(ctx, propose, paths=[where.path]), done=f"automatic promotion into {env} resumed"
    )
    return 0


def record_verification(
    ctx: Context, *, env: EnvironmentConfig, model: str, verification: Verification
) -> Outcome:
    """Write a verification result into env's ledger (a commit with a verify trailer)."""
    clean = Verification(verification.result, verification.at, one_line(verification.detail))

    def propose(read: Reader) -> Proposal:
        change = plan_verification(read(env), model=model, verification=clean)
        push = () if change.noop else _direct(ctx, env)
        return Proposal(f"record verification in {env.name}", (change,), push)

    return land(ctx, propose, paths=[env.path])


def verify_after(
    ctx: Context,
    *,
    env: EnvironmentConfig,
    model: str,
    may_roll_back: bool = True,
    deployment_id: int | None = None,
    timeout: float | None = None,
) -> Verification | None:
    """Verify env's cluster runs model's current release and record it; roll back on failure.

    Without a cluster the promotion already recorded "skipped": nothing to wait for. The
    GitHub deployment the landing opened (deployment_id) gets its final status here.
    With ``rollback: auto`` a failure restores the previous release at once (applied and
    verified like any landing) and raises ``VerificationFailed`` naming both.
    """
    if ctx.dry_run:
        return None
    if env.cluster is None:
        finish_deployment(
            ctx, env=env.name, deployment_id=deployment_id, state="success", detail=NO_CLUSTER
        )
        return None
    verification = _verify_and_record(
        ctx, env=env, model=model, deployment_id=deployment_id, timeout=timeout
    )
    return _settle(
        ctx, env=env, model=model, verification=verification, may_roll_back=may_roll_back
    )


def settle_verification(
    ctx: Context, *, env: EnvironmentConfig, model: str, verification: Verification
) -> Verification:
    """Record a verification made elsewhere (`leptonci verify`) and act on it as a
    promotion would: with ``rollback: auto`` a failure restores the previous release."""
    _record(ctx, env=env, model=model, verification=verification, deployment_id=None)
    return _settle(ctx, env=env, model=model, verification=verification, may_roll_back=True)


def _settle(
    ctx: Context,
    *,
    env: EnvironmentConfig,
    model: str,
    verification: Verification,
    may_roll_back: bool,
) -> Verification:
    if verification.result != "failed":
        return verification
    failed = f"verification of {model} in {env.name} failed: {one_line(verification.detail)}"
    if not (may_roll_back and env.rollback == "auto"):
        raise VerificationFailed(failed, hint=f"roll back with `leptonci rollback {env.name}`")
    with ctx.out.step(f"roll back {model} in {env.name}"):
        try:
            outcome = rollback_in(ctx, env=env, model=model, to=None, reason=f"automatic: {failed}")
        except (PromotionRefused, UsageError) as exc:
            raise VerificationFailed(failed, hint=f"automatic rollback impossible: {exc}") from None
    restored = outcome.changes[0].after if outcome.changes else None
    done = f"restored {restored} ({(outcome.commit or '')[:12]})"
    again = _verify_and_record(ctx, env=env, model=model, deployment_id=outcome.deployment_id)
    if again.result == "failed":
        done += f", which failed verification too: {one_line(again.detail)}"
    raise VerificationFailed(
        f"{failed}; {done}",
        hint=f"{env.name} is on hold until `leptonci resume {env.name}`",
    )


def _verify_and_record(
    ctx: Context,
    *,
    env: EnvironmentConfig,
    model: str,
    deployment_id: int | None,
    timeout: float | None = None,
) -> Verification:
    """Watch the rollout, commit the result to the ledger, finish the GitHub deployment."""
    from leptonci.commands.verify import verify_release

    try:
        with ctx.out.step(f"verify {model} in {env.name}"):
            verification = verify_release(ctx, env=env.name, model=model, timeout=timeout)
    except LeptonError as exc:
        finish_deployment(
            ctx, env=env.name, deployment_id=deployment_id, state="error", detail=exc.message
        )
        raise
    return _record(
        ctx, env=env, model=model, verification=verification, deployment_id=deployment_id
    )


def _record(
    ctx: Context,
    *,
    env: EnvironmentConfig,
    model: str,
    verification: Verification,
    deployment_id: int | None,
) -> Verification:
    """Commit the result to the ledger and give the GitHub deployment its final status."""
    try:
        record_verification(ctx, env=env, model=model, verification=verification)
    except LeptonError as exc:
        finish_deployment(
            ctx, env=env.name, deployment_id=deployment_id, state="error", detail=exc.message
        )
        raise
    state = "failure" if verification.result == "failed" else "success"
    finish_deployment(
        ctx, env=env.name, deployment_id=deployment_id, state=state, detail=verification.detail
    )
    return verification
