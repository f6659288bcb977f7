"""`leptonci verify ENV`: does ENV's cluster run the release its ledger says is current?

Reads the ledger and watches the rollout of the current release's digest on the
environment's cluster. ``verify_release`` only returns the ``Verification``; the
command also records it in the ledger (a commit with a verify trailer) and, with
``rollback: auto``, restores the previous release when it failed. ``--dry-run``
verifies and records nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from leptonci.core.errors import UsageError
from leptonci.core.ledger import ReleaseRecord, Verification
from leptonci.engine.envfiles import read_ledger
from leptonci.runtime.context import Context


def verify_release(
    ctx: Context, *, env: str, model: str | None = None, timeout: float | None = None
) -> Verification:
    """Verify the current release of model (the only one, if None) in env's cluster.

    "skipped" without a cluster configured; raises ClusterError when the cluster's API
    keeps failing (never "verified" on an error).
    """
    return _verify(ctx, env=env, model=model, timeout=timeout)[1]


def _verify(
    ctx: Context, *, env: str, model: str | None, timeout: float | None
) -> tuple[ReleaseRecord | None, Verification]:
    env_config = ctx.config.env(env)
    ledger = read_ledger(ctx.root, env_config)
    record = _current(ledger.current, env=env, model=model)
    if record is None:
        return None, Verification("skipped", ctx.now(), f"no current release in {env}")
    cluster = env_config.cluster
    if cluster is None:
        return record, Verification("skipped", ctx.now(), "no cluster configured")
    from leptonci.adapters.kube import load_api_client, verify_rollout

    api = load_api_client(cluster, env=ctx.env, root=ctx.root)
    try:
        result = verify_rollout(
            cluster,
            digest=record.digest,
            timeout=cluster.timeout if timeout is None else timeout,
            api_client=api,
        )
    finally:
        api.close()
    if result.ok:
        return record, Verification("verified", ctx.now(), result.detail)
    return record, Verification("failed", ctx.now(), f"{result.reason}: {result.detail}")


def _current(
    current: Mapping[str, ReleaseRecord], *, env: str, model: str | None
) -> ReleaseRecord | None:
    if model is not None:
        return current.get(model)
    if len(current) > 1:
        names = ", ".join(sorted(current))
        raise UsageError(f"{env} has several current models ({names})", hint="pass --model NAME")
    return next(iter(current.values()), None)


def verify_command(
    ctx: Context, *, env: str, model: str | None = None, timeout: float | None = None
) -> int:
    """Print the verification of env's current release; 0 verified or skipped, 1 failed."""
    if model is not None:
        ctx.config.model(model)  # unknown model: a config error, not "nothing to verify"
    with ctx.out.step(f"verify {env}"):
        record, verification = _verify(ctx, env=env, model=model, timeout=timeout)
    env_config = ctx.config.env(env)
    if record is not None and env_config.cluster is not None and not ctx.dry_run:
        from leptonci.engine.settling import settle_verification

        # records the result; on failure rolls back (rollback: auto) and raises
        settle_verification(ctx, env=env_config, model=record.model, verification=verification)
    data = {
        "environment": env,
        "model": record.model if record else model,
        "release": record.release if record else None,
        "image": record.image_ref if record else None,
        "result": verification.result,
        "detail": verification.detail,
        "at": verification.at,
    }
    subject = f"{record.model} {record.release}" if record else "nothing"
    text = f"{env}: {subject} {verification.result}: {verification.detail}"
    ctx.out.result(data, text=text)
    ctx.out.set_output("verification", verification.result)
    ctx.out.summary(f"**verify {env}**: {subject} — {verification.result}: {verification.detail}")
    return 0 if verification.verified else 1
