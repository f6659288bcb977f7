"""Markdown for pull-request comments, check runs and job summaries (pure).

A gate report is a table of every check (candidate, baseline, threshold, delta,
result), the params that differ from the baseline's (``epochs 12 → 3``), the verdict's
notes, "what next" when the gate failed, a Mermaid ``xychart-beta`` chart per gated
metric across the reference environment's release history with the candidate as the
last point (drawn in its own colour, with a legend naming the threshold line), a
provenance block, and the team's own Markdown appended. Numbers have one precision
(``report.precision``). The report is a list of blocks; a comment too long for GitHub
drops whole blocks from the end, so a cut never lands inside a fence or a
``<details>``. The sticky-comment marker lives here too, since the comment body
carries it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leptonci.core.gate import Check, Verdict
from leptonci.core.ledger import Ledger
from leptonci.core.numbers import DEFAULT_PRECISION, fmt

MAX_COMMENT = 60_000  # GitHub refuses bodies above 65,536 characters
MAX_POINTS = 20
# The chart's palette, set explicitly (GitHub's theme would pick its own): one colour per
# series in order (candidate bar, history line, threshold lines); the legend's squares match.
CANDIDATE, HISTORY, THRESHOLD = "#F4900C", "#1D9BF0", "#DD2E44"
LEGEND = {CANDIDATE: "🟧", HISTORY: "🟦", THRESHOLD: "🟥"}
TRUNCATED = (
    "_(report shortened to fit a comment: the full report is in the check run and the job summary)_"
)
_RESULT = {"ok": "✅ ok", "fail": "❌ fail", "skipped": "⏭️ skipped"}


GATE_CONTEXT = "leptonci/gate/{model}"
NO_MODEL_CHANGE = "passed: no model input changed"


def gate_context(model: str) -> str:
    """The commit status a repository makes a required check: one per gated model."""
    return GATE_CONTEXT.format(model=model)


def check_run_name(model: str) -> str:
    """The Checks-API check run that carries a model's full report (beside its status)."""
    return f"leptonci/report/{model}"


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
    params: Mapping[str, Any] = field(default_factory=dict)  # the candidate's
    baseline_params: Mapping[str, Any] | None = None  # the baseline release's; None: unknown
    appendix: str = ""  # the team's own Markdown (a file the workflow wrote)
    precision: int = DEFAULT_PRECISION


def render_checks_table(checks: Sequence[Check], *, precision: int = DEFAULT_PRECISION) -> str:
    out = [
        "| metric | check | candidate | baseline | threshold | delta | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in checks:
        cells = [
            c.metric,
            c.kind,
            fmt(c.candidate, precision),
            fmt(c.baseline, precision),
            c.threshold or "-",
            fmt(c.delta, precision, signed=True),
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
    precision: int = DEFAULT_PRECISION,
) -> str:
    """A Mermaid xychart-beta chart of a metric's history with the candidate (the last
    point) as a bar in its own colour, min/max bounds as red lines, and a legend naming
    them. "" with no points."""
    if not points:
        return ""
    values = [v for _, v in points]
    low, high = bounds
    lines = [(word, v) for word, v in (("min", low), ("max", high)) if v is not None]
    lo, hi = min(values + [v for _, v in lines]), max(values + [v for _, v in lines])
    pad = (hi - lo) * 0.1 or abs(hi) * 0.05 or 0.1
    floor = lo - pad
    labels = ", ".join(f'"{_label(name)}"' for name, _ in points)
    palette = ", ".join([CANDIDATE, HISTORY, *[THRESHOLD] * len(lines)])
    # the candidate's bar: every other bar is below the axis, so none of them shows
    top = hi + pad
    bars = [_fmt(floor - (top - floor))] * (len(points) - 1) + [_fmt(values[-1])]
    out = [
        "```mermaid",
        '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "' + palette + '"}}}}%%',
        "xychart-beta",
        f'    title "{_label(title)}"',
        f"    x-axis [{labels}]",
        f'    y-axis "{_label(metric)}" {_fmt(floor)} --> {_fmt(top)}',
        f"    bar [{', '.join(bars)}]",
        f"    line [{', '.join(_fmt(v) for v in values)}]",
    ]
    out += [f"    line [{', '.join([_fmt(b)] * len(points))}]" for _, b in lines]
    out.append("```")
    legend = [
        f"{LEGEND[CANDIDATE]} this candidate ({fmt(values[-1], precision)})",
        f"{LEGEND[HISTORY]} {metric} of the releases before it",
    ]
    legend += [
        f"{LEGEND[THRESHOLD]} threshold: {word} {fmt(b, precision)} (the gate)" for word, b in lines
    ]
    out += ["", " · ".join(legend)]
    return "\n".join(out) + "\n"


def render_params_diff(
    params: Mapping[str, Any], baseline: Mapping[str, Any] | None, *, against: str
) -> str:
    """The params that differ from the baseline release's, one row each (``12 → 3``)."""
    if baseline is None:
        if not params:
            return ""
        shown = ", ".join(f"`{k}` {_value(v)}" for k, v in sorted(params.items()))
        return f"Params: {shown} (the baseline recorded none to compare with)\n"
    changed = [
        (k, baseline.get(k), params.get(k))
        for k in sorted({*params, *baseline})
        if baseline.get(k) != params.get(k)
    ]
    if not changed:
        return f"Params: the same as the baseline's in {against}.\n"
    out = [f"| param | baseline ({against}) | this candidate |", "|---|---|---|"]
    for key, before, after in changed:
        out.append(f"| {_cell(key)} | {_cell(_value(before))} | {_cell(_value(after))} |")
    summary = ", ".join(f"`{k}` {_value(b)} → {_value(a)}" for k, b, a in changed)
    return f"Params changed: {summary}\n\n" + "\n".join(out) + "\n"


def render_what_next(report: GateReport) -> str:
    """What to do about a failed gate, from the checks that failed."""
    failed = report.verdict.failed_checks
    if not failed:
        return ""
    model = report.model
    out = ["### What next", ""]
    values = [c for c in failed if c.kind == "value"]
    changes = [c for c in failed if c.kind == "change"]
    if values:
        names = ", ".join(dict.fromkeys(c.metric for c in values))
        out.append(
            f"- {names} is outside its bound: improve the model (its code, data or params in "
            "this pull request) and push again; the gate runs on every push."
        )
    if changes:
        base = report.verdict.baseline_release or "the baseline"
        out.append(
            f"- the candidate regressed against `{base}`, current in {report.against}: "
            "compare the params above and the eval data (provenance below)."
        )
    out += [
        f"- reproduce it locally: `leptonci gate {model}` (from the training cache), or "
        f"`leptonci gate {model} --metrics metrics.json` for a metrics file.",
        f"- if a threshold itself is wrong, change `models.{model}.gate` in leptonci.yaml in "
        "this pull request: the change is reviewed and gated with it.",
    ]
    return "\n".join(out) + "\n"


def report_blocks(report: GateReport, *, marker: str, ledger: Ledger | None) -> list[str]:
    """The report's blocks in order: each a whole table, list, chart or ``<details>``."""
    v = report.verdict
    head = "passed ✅" if v.passed else "FAILED ❌"
    against = (
        f"`{v.baseline_release}` (current in {report.against})"
        if v.baseline_release
        else (f"none: no release in {report.against} yet")
    )
    blocks = [
        f"{marker}\n## leptonci gate: `{report.model}` {head}\n\n"
        f"Candidate `{report.candidate}` · baseline {against}\n",
        render_checks_table(v.checks, precision=report.precision),
        render_params_diff(report.params, report.baseline_params, against=report.against),
        "".join(f"> {note}\n" for note in v.notes),
        render_what_next(report),
    ]
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
            blocks.append(
                render_metric_chart(
                    metric,
                    points,
                    title=f"{metric}: {report.against} history and this candidate",
                    bounds=report.bounds.get(metric, (None, None)),
                    precision=report.precision,
                )
            )
    blocks.append(render_provenance(report.provenance))
    if report.appendix.strip():
        blocks.append(report.appendix.strip() + "\n")
    return [b for b in blocks if b.strip()]


def fit(blocks: Sequence[str], *, limit: int = MAX_COMMENT) -> str:
    """The blocks joined; over limit, whole blocks dropped from the end (never a cut inside
    a fence or a <details>), the first always kept, and a line saying so."""
    text = "\n".join(blocks).rstrip("\n") + "\n"
    if len(text) <= limit:
        return text
    kept: list[str] = []
    budget = limit - len(TRUNCATED) - 4
    for block in blocks:
        if kept and sum(len(b) + 1 for b in kept) + len(block) + 1 > budget:
            break
        kept.append(block if kept else block[:budget])
    return "\n".join(kept).rstrip("\n") + "\n\n" + TRUNCATED + "\n"


def render_gate_report(
    report: GateReport, *, marker: str, ledger: Ledger | None, limit: int = MAX_COMMENT
) -> str:
    """The sticky PR comment for one model (and the text of its check run)."""
    return fit(report_blocks(report, marker=marker, ledger=ledger), limit=limit)


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
            render_checks_table(r.verdict.checks, precision=r.precision),
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


def _value(value: Any) -> str:
    return "-" if value is None else str(value)


def _fmt(value: float) -> str:
    return format(value, ".6g")


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _code(text: str) -> str:
    return text.replace("`", "'").replace("|", "\\|").replace("\n", " ")


def _label(text: str) -> str:
    return text.replace('"', "'").replace("\n", " ")
