"""`leptonci status [--live]`: what each environment runs, from its ledger (and cluster),
and the promotions waiting for their merge (open promotion pull requests)."""

from __future__ import annotations

from leptonci.engine.envfiles import read_worktree
from leptonci.engine.pending import pending_promotions, render_pending
from leptonci.engine.status import collect_status, render_status
from leptonci.runtime.context import Context


def run(ctx: Context, *, live: bool) -> int:
    rows = collect_status(ctx, live=live)
    states = {env.name: read_worktree(ctx.root, env) for env in ctx.config.ordered_envs()}
    pending = pending_promotions(ctx, states=states)
    ctx.out.result(
        {"environments": [r.to_dict() for r in rows], "pending": [p.to_dict() for p in pending]},
        render_status(rows, live=live) + render_pending(pending),
    )
    if live and any(r.drift for r in rows):
        ctx.out.warn("drift: a cluster runs another image than its ledger says")
    return 0
