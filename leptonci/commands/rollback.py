"""`leptonci rollback ENV`: restore the previous (or named) release, quarantine, hold."""

from __future__ import annotations

from leptonci.engine.promotions import rollback_in
from leptonci.engine.report import report_landed
from leptonci.engine.settling import settle
from leptonci.runtime.context import Context


def run(ctx: Context, *, env: str, to: str | None, reason: str | None) -> int:
    target = ctx.config.env(env)
    landed = rollback_in(ctx, env=target, model=None, to=to, reason=reason or "manual rollback")
    report_landed(ctx, landed, done=f"rolled back {env}; automatic promotion into {env} is on hold")
    if landed.applied is not None and landed.applied.landed:
        for change in landed.changes:
            if change.model:
                settle(
                    ctx, env=target, model=change.model, after=landed.applied, may_roll_back=False
                )
    return 0
