"""`leptonci verify ENV`: does ENV's cluster run the release its ledger says is current?

Watches the rollout of the current release's digest, then checks prediction parity
(the recorded sample sent to the running model, ``engine/parity.py``), records the
result in the ledger (a commit with a verify trailer) and, with ``rollback: auto``,
restores the previous release when it failed. ``--dry-run`` reads the cluster (it is
what was asked for), prints the predict request instead of sending it, and records
nothing.
"""

from __future__ import annotations

from leptonci.engine.settling import check_release, settle_verification
from leptonci.runtime.context import Context


def run(ctx: Context, *, env: str, model: str | None = None, timeout: float | None = None) -> int:
    """Print the verification of env's current release; 0 verified or skipped, 1 failed."""
    if model is not None:
        ctx.config.model(model)  # unknown model: a config error, not "nothing to verify"
    with ctx.out.step(f"verify {env}"):
        record, verification = check_release(ctx, env=env, model=model, timeout=timeout)
    env_config = ctx.config.env(env)
    if record is not None and env_config.cluster is not None and not ctx.dry_run:
        # records the result; on failure rolls back (rollback: auto) and raises
        settle_verification(ctx, env=env_config, model=record.model, verification=verification)
    data = {
        "environment": env,
        "model": record.model if record else model,
        "release": record.release if record else None,
        "image": record.image_ref if record else None,
        "result": verification.result,
        "detail": verification.detail,
        "parity": dict(verification.parity) or None,  # the numbers, when parity ran
        "at": verification.at,
    }
    subject = f"{record.model} {record.release}" if record else "nothing"
    text = f"{env}: {subject} {verification.result}: {verification.detail}"
    ctx.out.result(data, text=text)
    ctx.out.set_output("verification", verification.result)
    ctx.out.summary(f"**verify {env}**: {subject} — {verification.result}: {verification.detail}")
    return 0 if verification.verified else 1
