"""`leptonci status [--live]`: what each environment runs, from its ledger (and cluster)."""

from __future__ import annotations

from leptonci.engine.status import collect_status, render_status
from leptonci.runtime.context import Context


def run(ctx: Context, *, live: bool) -> int:
    rows = collect_status(ctx, live=live)
    ctx.out.result({"environments": [r.to_dict() for r in rows]}, render_status(rows, live=live))
    if live and any(r.drift for r in rows):
        ctx.out.warn("drift: a cluster runs another image than its ledger says")
    return 0
