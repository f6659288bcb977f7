"""The body of a promotion pull request: what moves, from where, with which numbers.

What "Files changed" already shows (the manifest and ledger diffs) is not repeated: the
body lists the plan's steps, the release's facts with links (commit, ledger), and its
metrics against what the environment runs now, in one number precision.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from leptonci.core.numbers import DEFAULT_PRECISION, fmt
from leptonci.core.plan import Plan
from leptonci.promotion.state import Change, EnvState


@dataclass(frozen=True)
class Links:
    """Where a person reads commits and ledgers: ``SERVER/OWNER/NAME`` on a branch."""

    server: str  # https://github.com (or a GitHub Enterprise Server)
    repository: str  # OWNER/NAME
    branch: str = "main"

    def commit(self, sha: str) -> str:
        return f"[`{sha[:12]}`]({self.server}/{self.repository}/commit/{sha})"

    def ledger(self, release: str, path: str) -> str:
        return f"[`{release}`]({self.server}/{self.repository}/blob/{self.branch}/{path})"


def pull_request_body(
    changes: Sequence[Change],
    *,
    target: EnvState,
    upstream: EnvState,
    links: Links | None = None,
    precision: int = DEFAULT_PRECISION,
) -> str:
    """Facts, metric deltas and the plan's steps of a promotion, as Markdown."""
    out: list[str] = []
    for change in changes:
        rec = change.state.ledger.current_for(change.model or "")
        if rec is None:
            continue
        old = target.ledger.current_for(rec.model)
        up = upstream.ledger.current_for(rec.model)
        release = links.ledger(rec.release, upstream.ledger_path) if links else f"`{rec.release}`"
        source = rec.source_commit
        shown_source = (links.commit(source) if links else f"`{source[:12]}`") if source else "-"
        replaces = "nothing"
        if old is not None:
            replaces = (
                links.ledger(old.release, target.ledger_path) if links else f"`{old.release}`"
            )
        out += [
            f"## {rec.release} into {change.env}",
            "",
            f"- **release**: {release} of `{rec.model}` (model hash `{rec.model_hash[:19]}`)",
            f"- **image**: `{rec.image_ref}`",
            f"- **source commit**: {shown_source}",
            f"- **replaces**: {replaces}",
            f"- **from**: {upstream.name}, verification {up.verification.result if up else '-'}",
            "",
        ]
        if rec.metrics:
            out += [
                f"| metric | this release | now in {change.env} | delta |",
                "|---|---|---|---|",
            ]
            for name, value in sorted(rec.metrics.items()):
                before = old.metrics.get(name) if old else None
                delta = (
                    fmt(value - before, precision, signed=True)
                    if before is not None
                    else "no baseline"
                )
                out.append(
                    f"| {name} | {fmt(value, precision)} | {fmt(before, precision)} | {delta} |"
                )
            out.append("")
    plan = Plan("promotion", tuple(a for c in changes for a in c.actions))
    out.append(plan.render_markdown(diffs=False))
    out.append("_The manifest and ledger changes are under **Files changed**._")
    return "\n".join(out) + "\n"
