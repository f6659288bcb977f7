"""`leptonci gate MODEL`: check a candidate against its thresholds and a baseline release.

The baseline is the release of the same model now current in the reference
environment, read from that environment's ledger. The verdict goes out three ways:
line by line as text, as Markdown in the job summary, and as JSON with --json.
"""

from __future__ import annotations

from leptonci.core.candidate import Candidate
from leptonci.core.files import read_text
from leptonci.core.gate import Baseline, Verdict, evaluate_gate
from leptonci.core.ledger import LEDGER_FILE, ReleaseRecord, parse_ledger
from leptonci.runtime.context import Context


def baseline_record(ctx: Context, *, model: str, against: str) -> ReleaseRecord | None:
    """The record of model's release current in environment against (None: a first one)."""
    env = ctx.config.env(against)
    path = ctx.root / env.path / LEDGER_FILE
    try:
        text = read_text(path, root=ctx.root)
    except FileNotFoundError:
        return None
    ledger = parse_ledger(text, file=f"{env.path}/{LEDGER_FILE}", history_limit=env.history_limit)
    return ledger.current_for(model)


def baseline_for(ctx: Context, *, model: str, against: str) -> Baseline | None:
    """The release of model current in environment against, or None (first release)."""
    record = baseline_record(ctx, model=model, against=against)
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
        precision=ctx.config.report.precision,
    )
