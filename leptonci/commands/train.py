"""`leptonci train MODEL`: train a model into a candidate, reusing a cache when it can.

``--dry-run`` prints the training plan (where the candidate would come from: the local
cache, the shared training cache in the registry, a local training, or the image, Job and
Service a cluster training creates) and writes nothing; it asks nothing over the network
unless ``--fetch`` is given too.
"""

from __future__ import annotations

import json
from pathlib import Path

from leptonci.core.candidate import Candidate
from leptonci.core.training_contract import candidate_label
from leptonci.pipeline.train import plan_training, train_model
from leptonci.runtime.context import Context


def run(ctx: Context, *, model: str, out: Path | None, use_cache: bool) -> int:
    """`leptonci train MODEL [--out DIR] [--no-cache] [--dry-run [--fetch]]`."""
    if ctx.dry_run:
        planned = plan_training(ctx, model=model, use_cache=use_cache)
        hit = planned.local is not None or planned.stored is not None
        text = planned.plan.render_text()
        if out is not None:
            text += f"then copy the candidate to {out}\n"
        data = {
            "model": model,
            "content_hash": planned.key,
            "cached": hit,
            "dry_run": True,
            "plan": planned.plan.to_dict(),
        }
        ctx.out.result(data, text=text + "dry run: nothing was written\n")
        return 0
    candidate = train_model(ctx, model=model, out=out, use_cache=use_cache)
    ctx.out.summary(train_summary_markdown(candidate))
    ctx.out.set_output("candidate", str(candidate.root))
    ctx.out.set_output("model-hash", candidate.content_hash)
    data = {**candidate.to_dict(), "root": str(candidate.root), "cached": candidate.cached}
    ctx.out.result(data, text=train_result_text(candidate))
    return 0


def train_result_text(candidate: Candidate) -> str:
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in sorted(candidate.metrics.items()))
    how = "cached" if candidate.cached else f"trained in {candidate.wall_seconds:.1f}s"
    label = candidate_label(candidate.model, candidate.content_hash)
    return (
        f"candidate {label} ({how}): {metrics} on {candidate.eval_count} eval examples\n"
        f"  {candidate.export_dir}"
    )


def train_summary_markdown(candidate: Candidate) -> str:
    label = candidate_label(candidate.model, candidate.content_hash)
    rows = "\n".join(f"| {k} | {v:.4f} |" for k, v in sorted(candidate.metrics.items()))
    how = "cache hit" if candidate.cached else f"trained in {candidate.wall_seconds:.1f} s"
    return (
        f"### Train {candidate.model}: `{label}` ({how})\n\n"
        f"| metric | value |\n|---|---|\n{rows}\n\n"
        f"Eval examples: {candidate.eval_count}; eval data `{candidate.eval_fingerprint[:19]}…`; "
        f"params `{json.dumps(dict(candidate.params), sort_keys=True)}`\n"
    )
