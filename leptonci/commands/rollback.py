"""`leptonci rollback ENV`: restore the previous (or named) release, quarantine the bad
digest, and hold automatic promotion into ENV until `leptonci resume ENV`."""

from __future__ import annotations

from leptonci.engine.promotions import after_landing, rollback_in
from leptonci.engine.report import report_landed
from leptonci.engine.settling import settle
from leptonci.runtime.context import Context


def run(ctx: Context, *, env: str, release: str | None, reason: str | None) -> int:
    target = ctx.config.env(env)
    landed = rollback_in(
        ctx, env=target, model=None, to=release, reason=reason or "manual rollback"
    )
    report_landed(ctx, landed, done=f"rolled back {env}; automatic promotion into {env} is on hold")
    on_main, after = after_landing(ctx, env=target, landed=landed)
    if on_main:
        for change in landed.changes:
            if change.model:
                settle(ctx, env=target, model=change.model, after=after, may_roll_back=False)
    return 0
