"""The body of a promotion pull request: what moves, from where, with which numbers."""

from __future__ import annotations

from collections.abc import Sequence

from leptonci.core.plan import Plan
from leptonci.promotion.state import Change, EnvState


def pull_request_body(changes: Sequence[Change], *, target: EnvState, upstream: EnvState) -> str:
    """Plan, manifest diff, metric deltas and provenance of a promotion, as Markdown."""
    out: list[str] = []
    for change in changes:
        rec = change.state.ledger.current_for(change.model or "")
        if rec is None:
            continue
        old = target.ledger.current_for(rec.model)
        up = upstream.ledger.current_for(rec.model)
        out += [f"## {rec.release} into {change.env}", "", "| | |", "|---|---|"]
        out += [
            f"| model | {rec.model} (`{rec.model_hash}`) |",
            f"| image | `{rec.image_ref}` |",
            f"| source | `{rec.source_commit or '-'}` |",
            f"| replaces | {old.release if old else 'nothing'} |",
            f"| from | {upstream.name}, verification {up.verification.result if up else '-'} |",
            "",
            "| metric | this release | now in " + change.env + " | delta |",
            "|---|---|---|---|",
        ]
        for name, value in sorted(rec.metrics.items()):
            before = old.metrics.get(name) if old else None
            delta = f"{value - before:+.4f}" if before is not None else "no baseline"
            shown = f"{before:.4f}" if before is not None else "-"
            out.append(f"| {name} | {value:.4f} | {shown} | {delta} |")
        out.append("")
    plan = Plan("promotion", tuple(a for c in changes for a in c.actions))
    out.append(plan.render_markdown())
    return "\n".join(out)
