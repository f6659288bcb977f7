"""`leptonci gate MODEL`: check a candidate against its thresholds and a baseline release.

The verdict goes out three ways: line by line as text, as Markdown in the job summary,
and as JSON with --json.
"""

from __future__ import annotations

from pathlib import Path

from leptonci.core.candidate import load_metrics_file
from leptonci.core.errors import ConfigError
from leptonci.core.training_contract import candidate_label
from leptonci.pipeline.gate import gate_candidate
from leptonci.pipeline.train import train_model
from leptonci.runtime.context import Context


def run(ctx: Context, *, model: str, against: str | None, metrics: Path | None) -> int:
    """`leptonci gate MODEL [--against ENV] [--metrics FILE]`: exit 0 pass, 1 fail.

    The baseline is the release current in the model's reference environment (its
    ``reference:``, else prod, else the last one), as in the pull-request gate."""
    ctx.config.model(model)  # an unknown model is a config error before anything runs
    env = ctx.config.env(against).name if against else ctx.config.reference_env(model).name
    if metrics is not None:
        candidate = load_metrics_file(metrics, model=model)
        if candidate.model != model:
            raise ConfigError(
                f"metrics file is for model {candidate.model!r}, not {model!r}", file=str(metrics)
            )
    else:
        candidate = train_model(ctx, model=model, use_cache=True)
    verdict = gate_candidate(ctx, candidate=candidate, against=env)
    label = candidate_label(model, candidate.content_hash) if candidate.content_hash else model
    title = f"Gate {label} against {env}"
    ctx.out.summary(verdict.render_markdown(title=title))
    ctx.out.set_output("gate", "pass" if verdict.passed else "fail")
    ctx.out.set_output("verdict", "pass" if verdict.passed else "fail")
    data = {
        "model": model,
        "candidate": label,
        "content_hash": candidate.content_hash,
        "against": env,
        "verdict": verdict.to_dict(),
    }
    ctx.out.result(data, text=f"{title}\n{verdict.render_text()}")
    if not verdict.passed and ctx.out.github:  # ::error:: annotations on the run page
        for check in verdict.failed_checks:
            ctx.out.error(f"gate {label}: {check.text}")
    return 0 if verdict.passed else 1
