"""`leptonci unblock ENV RELEASE|DIGEST`: lift a quarantine."""

from __future__ import annotations

from leptonci.engine.promotions import unblock_in
from leptonci.engine.report import report_landed
from leptonci.runtime.context import Context


def run(ctx: Context, *, env: str, target: str) -> int:
    landed = unblock_in(ctx, env=ctx.config.env(env), target=target)
    report_landed(ctx, landed, done=f"unblocked {target} in {env}")
    return 0
