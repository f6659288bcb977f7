"""`leptonci resume ENV`: lift the hold on automatic promotion into ENV."""

from __future__ import annotations

from leptonci.engine.promotions import resume_in
from leptonci.engine.report import report_landed
from leptonci.runtime.context import Context


def run(ctx: Context, *, env: str) -> int:
    landed = resume_in(ctx, env=ctx.config.env(env))
    report_landed(ctx, landed, done=f"automatic promotion into {env} resumed")
    return 0
