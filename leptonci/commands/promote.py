"""`leptonci promote --to ENV`: move the release current (and verified) upstream into ENV."""

from __future__ import annotations

from leptonci.engine.promotions import after_landing, promote_into
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
    report_landed(ctx, landed, done=f"promoted into {to}")
    on_main, after = after_landing(ctx, env=env, landed=landed)
    if on_main:
        for change in landed.changes:
            if change.model and not change.noop:
                settle(ctx, env=env, model=change.model, after=after)
    return 0
