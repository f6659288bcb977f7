"""`leptonci gate MODEL`: check a candidate against its thresholds and a baseline release.

The baseline is the release of the same model now current in the reference
environment, read from that environment's ledger. The verdict goes out three ways:
line by line as text, as Markdown in the job summary, and as JSON with --json.
"""

from __future__ import annotations

from pathlib import Path

from leptonci.core.candidate import Candidate, load_candidate
from leptonci.core.errors import ConfigError
from leptonci.core.gate import Baseline, Verdict, evaluate_gate
from leptonci.core.ledger import LEDGER_FILE, parse_ledger
from leptonci.core.training_contract import candidate_label
from leptonci.pipeline.train import train_model
from leptonci.runtime.context import Context


def baseline_for(ctx: Context, *, model: str, against: str) -> Baseline | None:
    """The release of model current in environment against, or None (first release)."""
    env = ctx.config.env(against)
    path = ctx.root / env.path / LEDGER_FILE
    try:
        text = path.read_text()
    except FileNotFoundError:
        return None
    ledger = parse_ledger(text, file=f"{env.path}/{LEDGER_FILE}", history_limit=env.history_limit)
    record = ledger.current_for(model)
    if record is None:
        return None
    return Baseline(
        release=record.release,
        metrics=dict(record.metrics),
        eval_fingerprint=record.eval_fingerprint,
    )


def gate_candidate(ctx: Context, *, candidate: Candidate, against: str) -> Verdict:
    """Evaluate candidate's gate from leptonci.yaml against the release current in against."""
    thresholds = ctx.config.model(candidate.model).gate
    baseline = baseline_for(ctx, model=candidate.model, against=against)
    return evaluate_gate(
        thresholds,
        metrics=candidate.metrics,
        eval_count=candidate.eval_count,
        eval_fingerprint=candidate.eval_fingerprint,
        baseline=baseline,
    )


def gate_command(ctx: Context, *, model: str, against: str | None, metrics: Path | None) -> int:
    """`leptonci gate MODEL [--against ENV] [--metrics FILE]`: exit 0 pass, 1 fail."""
    ctx.config.model(model)  # an unknown model is a config error before anything runs
    env = against or ctx.config.first_env().name
    if metrics is not None:
        candidate = load_candidate(metrics)
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
