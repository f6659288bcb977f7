"""`leptonci promote --to ENV`: move the release current (and verified) upstream into ENV."""

from __future__ import annotations

from leptonci.engine.promotions import promote_into
from leptonci.engine.report import report_landed
from leptonci.engine.settling import settle
from leptonci.runtime.context import Context


def run(ctx: Context, *, to: str, release: str | None, force: bool, reason: str | None) -> int:
    env = ctx.config.env(to)
    landed = promote_into(
        ctx,
        env=env,
        release=release,
        model=None,
        force=force,
        reason=reason or "",
        automatic=False,
    )
    applied = landed.applied
    if applied is not None and applied.pull_request and not applied.landed:
        done = f"pull request opened: {applied.pull_request} (awaiting merge)"
    elif applied is not None and not applied.landed:
        done = f"promotion branch pushed for {to} (awaiting a pull request and its merge)"
    else:
        done = f"promoted into {to}"
    report_landed(ctx, landed, done=done)
    if applied is not None and applied.landed:
        for change in landed.changes:
            if change.model and not change.noop:
                settle(ctx, env=env, model=change.model, after=applied)
    return 0
