"""Markdown for pull-request comments and job summaries (pure).

A gate report is a table of every check (candidate, baseline, threshold, delta,
result), the verdict's notes, a provenance block, and a Mermaid ``xychart-beta``
chart per gated metric across the reference environment's release history with the
candidate as the last point. The sticky-comment marker lives here too, since the
comment body carries it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from leptonci.core.gate import Check, Verdict
from leptonci.core.ledger import Ledger

MAX_COMMENT = 60_000  # GitHub refuses bodies above 65,536 characters
MAX_POINTS = 20
_RESULT = {"ok": "✅ ok", "fail": "❌ fail", "skipped": "⏭️ skipped"}


GATE_CONTEXT = "leptonci/gate/{model}"
NO_MODEL_CHANGE = "passed: no model input changed"


def gate_context(model: str) -> str:
    """The commit status a repository makes a required check: one per gated model."""
    return GATE_CONTEXT.format(model=model)


def gate_marker(model: str, workflow: str) -> str:
    """The hidden marker that makes one comment per model and workflow sticky."""
    return f"<!-- leptonci:gate:{_slug(model)}:{_slug(workflow)} -->"


def promotion_marker(env: str) -> str:
    return f"<!-- leptonci:promotion:{_slug(env)} -->"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-") or "default"


@dataclass(frozen=True)
class GateReport:
    """Everything one model's gate comment shows."""

    model: str
    candidate: str  # label, e.g. digits-0123abcd4567
    against: str  # the reference environment
    verdict: Verdict
    metrics: Mapping[str, float] = field(default_factory=dict)
    provenance: Mapping[str, str] = field(default_factory=dict)  # ordered key -> value
    bounds: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)


def render_checks_table(checks: Sequence[Check]) -> str:
    out = [
        "| metric | check | candidate | baseline | threshold | delta | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in checks:
        cells = [
            c.metric,
            c.kind,
            _num(c.candidate),
            _num(c.baseline),
            c.threshold or "-",
            _num(c.delta, signed=True),
            _RESULT.get(c.status, c.status),
        ]
        out.append("| " + " | ".join(_cell(x) for x in cells) + " |")
    return "\n".join(out) + "\n"


def render_provenance(provenance: Mapping[str, str]) -> str:
    if not provenance:
        return ""
    lines = ["<details><summary>Provenance</summary>", "", "| | |", "|---|---|"]
    lines += [f"| {_cell(k)} | `{_code(v)}` |" for k, v in provenance.items()]
    lines += ["", "</details>"]
    return "\n".join(lines) + "\n"


def history_points(
    ledger: Ledger, *, model: str, metric: str, limit: int = MAX_POINTS
) -> list[tuple[str, float]]:
    """(release, value) of metric across the environment's releases of model, oldest first."""
    records = [r for r in reversed(ledger.history) if r.model == model]
    current = ledger.current_for(model)
    if current is not None:
        records.append(current)
    points = [
        (r.release, float(r.metrics[metric]))
        for r in records
        if metric in r.metrics and math.isfinite(float(r.metrics[metric]))
    ]
    return points[-limit:]


def render_metric_chart(
    metric: str,
    points: Sequence[tuple[str, float]],
    *,
    title: str,
    bounds: tuple[float | None, float | None] = (None, None),
) -> str:
    """A Mermaid xychart-beta line chart; min/max bounds as flat lines. "" with no points."""
    if not points:
        return ""
    values = [v for _, v in points]
    low, high = bounds
    lines = [v for v in (low, high) if v is not None]
    lo, hi = min(values + lines), max(values + lines)
    pad = (hi - lo) * 0.1 or abs(hi) * 0.05 or 0.1
    labels = ", ".join(f'"{_label(name)}"' for name, _ in points)
    out = [
        "```mermaid",
        "xychart-beta",
        f'    title "{_label(title)}"',
        f"    x-axis [{labels}]",
        f'    y-axis "{_label(metric)}" {_fmt(lo - pad)} --> {_fmt(hi + pad)}',
        f"    line [{', '.join(_fmt(v) for v in values)}]",
    ]
    out += [f"    line [{', '.join([_fmt(b)] * len(points))}]" for b in lines]
    out.append("```")
    return "\n".join(out) + "\n"


def render_gate_report(report: GateReport, *, marker: str, ledger: Ledger | None) -> str:
    """The sticky PR comment for one model."""
    v = report.verdict
    head = "passed ✅" if v.passed else "FAILED ❌"
    against = (
        f"`{v.baseline_release}` (current in {report.against})"
        if v.baseline_release
        else (f"none: no release in {report.against} yet")
    )
    out = [
        marker,
        f"## leptonci gate: `{report.model}` {head}",
        "",
        f"Candidate `{report.candidate}` · baseline {against}",
        "",
        render_checks_table(v.checks),
    ]
    out += [f"> {note}" for note in v.notes]
    if v.notes:
        out.append("")
    if ledger is not None:
        for metric in dict.fromkeys(c.metric for c in v.checks):
            points = history_points(ledger, model=report.model, metric=metric)
            if metric in report.metrics and math.isfinite(report.metrics[metric]):
                points = [
                    *points[-(MAX_POINTS - 1) :],
                    (f"{report.candidate} (PR)", float(report.metrics[metric])),
                ]
            if len(points) < 2:
                continue
            out.append(
                render_metric_chart(
                    metric,
                    points,
                    title=f"{metric}: {report.against} history and this candidate",
                    bounds=report.bounds.get(metric, (None, None)),
                )
            )
    out.append(render_provenance(report.provenance))
    text = "\n".join(out).rstrip("\n") + "\n"
    if len(text) > MAX_COMMENT:
        text = text[: MAX_COMMENT - 80] + "\n\n_(report truncated; see the job summary)_\n"
    return text


def render_summary(reports: Sequence[GateReport]) -> str:
    """The job summary: one section per model, the checks table each."""
    out = ["## leptonci model gate", ""]
    if not reports:
        out.append("_No model inputs changed; nothing to gate._")
    for r in reports:
        head = "passed ✅" if r.verdict.passed else "FAILED ❌"
        out += [
            f"### `{r.model}` {head} (against {r.against})",
            "",
            render_checks_table(r.verdict.checks),
        ]
        out += [f"> {note}" for note in r.verdict.notes]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def status_description(verdict: Verdict) -> str:
    """A commit status description (GitHub keeps 140 characters)."""
    failed = verdict.failed_checks
    if not failed:
        text = f"passed: {len(verdict.checks)} checks"
    else:
        text = f"failed: {failed[0].text}"
        if len(failed) > 1:
            text += f" (+{len(failed) - 1} more)"
    return text if len(text) <= 140 else text[:139] + "…"


def _num(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    if not math.isfinite(value):
        return str(value)
    return format(value, "+.4g" if signed else ".4g")


def _fmt(value: float) -> str:
    return format(value, ".6g")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return text.replace("`", "'").replace("|", "\\|").replace("\n", " ")


def _label(text: str) -> str:
    return text.replace('"', "'").replace("\n", " ")
