"""Settling: after a release lands, verify it, record the result, roll back on failure.

``verify_release`` only asks the cluster whether it runs the release the ledger says
is current, and then whether that model answers the recorded sample as the gated one
did (prediction parity, ``engine/parity.py``). ``settle`` does what follows a landing: verify, commit the result to the
ledger (a verify trailer) with the final status of the GitHub deployment the landing
opened, and, where the environment says ``rollback: auto``, restore the previous
release at once when verification failed (landed and verified like any promotion),
then raise ``VerificationFailed`` naming both.
"""

from __future__ import annotations

from collections.abc import Mapping

from leptonci.adapters import kube
from leptonci.core.config import EnvironmentConfig
from leptonci.core.errors import LeptonError, PromotionRefused, UsageError, VerificationFailed
from leptonci.core.ledger import ReleaseRecord, Verification
from leptonci.core.plan import Plan
from leptonci.core.trailers import one_line
from leptonci.engine.applier import Applied, Applier
from leptonci.engine.envfiles import read_ledger
from leptonci.engine.parity import check_parity
from leptonci.engine.promotions import deployment_status, record_verification, rollback_in
from leptonci.promotion.state import NO_CLUSTER
from leptonci.runtime.context import Context


def verify_release(
    ctx: Context, *, env: str, model: str | None = None, timeout: float | None = None
) -> Verification:
    """Verify the current release of model (the only one, if None) in env's cluster.

    "skipped" without a cluster configured; raises ClusterError when the cluster's API
    keeps failing (never "verified" on an error).
    """
    return check_release(ctx, env=env, model=model, timeout=timeout)[1]


def check_release(
    ctx: Context, *, env: str, model: str | None, timeout: float | None
) -> tuple[ReleaseRecord | None, Verification]:
    """(the current record, its verification); the cluster is only read."""
    env_config = ctx.config.env(env)
    ledger = read_ledger(ctx.root, env_config)
    record = current_record(ledger.current, env=env, model=model)
    if record is None:
        return None, Verification("skipped", ctx.now(), f"no current release in {env}")
    cluster = env_config.cluster
    if cluster is None:
        return record, Verification("skipped", ctx.now(), NO_CLUSTER)
    api = kube.load_api_client(cluster, env=ctx.env, root=ctx.root, deadlines=ctx.deadlines)
    try:
        result = kube.verify_rollout(
            cluster,
            digest=record.digest,
            timeout=cluster.timeout if timeout is None else timeout,
            api_client=api,
        )
        if not result.ok:
            return record, Verification("failed", ctx.now(), f"{result.reason}: {result.detail}")
        rollout = Verification("verified", ctx.now(), result.detail)
        return record, check_parity(ctx, env=env_config, record=record, rollout=rollout, api=api)
    finally:
        api.close()


def current_record(
    current: Mapping[str, ReleaseRecord], *, env: str, model: str | None
) -> ReleaseRecord | None:
    if model is not None:
        return current.get(model)
    if len(current) > 1:
        names = ", ".join(sorted(current))
        raise UsageError(f"{env} has several current models ({names})", hint="pass --model NAME")
    return next(iter(current.values()), None)


def settle(
    ctx: Context,
    *,
    env: EnvironmentConfig,
    model: str,
    after: Applied | None,
    may_roll_back: bool = True,
    timeout: float | None = None,
) -> Verification | None:
    """Verify env runs model's current release and record it; roll back on failure.

    ``after`` is the result of the landing that put the release there (its GitHub
    deployment gets the final status). Without a cluster the landing already recorded
    "skipped": nothing to wait for. In a dry run nothing happens.
    """
    if ctx.dry_run:
        return None
    if env.cluster is None:
        finish(ctx, env=env, after=after, state="success", detail=NO_CLUSTER)
        return None
    verification = _verify_and_record(ctx, env=env, model=model, after=after, timeout=timeout)
    return _act_on(
        ctx, env=env, model=model, verification=verification, may_roll_back=may_roll_back
    )


def settle_verification(
    ctx: Context, *, env: EnvironmentConfig, model: str, verification: Verification
) -> Verification:
    """Record a verification made elsewhere (`leptonci verify`) and act on it as a
    promotion would: with ``rollback: auto`` a failure restores the previous release."""
    record_verification(ctx, env=env, model=model, verification=verification)
    return _act_on(ctx, env=env, model=model, verification=verification, may_roll_back=True)


def finish(
    ctx: Context, *, env: EnvironmentConfig, after: Applied | None, state: str, detail: str
) -> None:
    """Give the landing's GitHub deployment its final status, outside any landing."""
    if after is None or after.deployment_id is None:
        return
    repository = ctx.env.get("GITHUB_REPOSITORY", "")
    plan = Plan("finish the deployment", (deployment_status(repository, env, state, detail),))
    Applier(ctx).apply(plan, after)


def _act_on(
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
            landed = rollback_in(ctx, env=env, model=model, to=None, reason=f"automatic: {failed}")
        except (PromotionRefused, UsageError) as exc:
            raise VerificationFailed(failed, hint=f"automatic rollback impossible: {exc}") from None
    restored = landed.changes[0].after if landed.changes else None
    commit = landed.applied.commit if landed.applied else None
    done = f"restored {restored} ({(commit or '')[:12]})"
    again = _verify_and_record(ctx, env=env, model=model, after=landed.applied)
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
    after: Applied | None,
    timeout: float | None = None,
) -> Verification:
    """Watch the rollout, commit the result to the ledger, finish the GitHub deployment."""
    try:
        with ctx.out.step(f"verify {model} in {env.name}"):
            verification = verify_release(ctx, env=env.name, model=model, timeout=timeout)
    except LeptonError as exc:
        finish(ctx, env=env, after=after, state="error", detail=exc.message)
        raise
    try:
        record_verification(ctx, env=env, model=model, verification=verification, after=after)
    except LeptonError as exc:
        finish(ctx, env=env, after=after, state="error", detail=exc.message)
        raise
    return verification
