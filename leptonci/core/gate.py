"""The gate: a model's thresholds checked against a candidate's metrics and a baseline.

Pure: ``evaluate_gate`` turns thresholds, metrics and an optional baseline into a
``Verdict`` that lists every check with its numbers, one line each.

Rules (DESIGN.md, "Gate semantics"):

* ``min`` / ``max`` are inclusive bounds on the candidate's value.
* A change check compares with the baseline. ``delta = candidate - baseline`` and
  ``ratio = delta / |baseline|`` (the absolute value keeps "better" meaning the same
  sign for negative baselines; for the usual positive metrics it is ``delta / baseline``).
  The allowance is on the *gain*, the change in the better direction:
  ``gain = delta`` for ``higher_is_better`` and ``gain = -delta`` for
  ``lower_is_better``. A check is ok when ``gain >= absolute`` and
  ``gain / |baseline| >= relative``. So a negative allowance is the regression
  tolerated, a positive one the improvement required, in either direction:
  ``lower_is_better`` with ``absolute: -0.05`` lets the metric rise by up to 0.05;
  with ``absolute: 0.02`` it must fall by at least 0.02.
* A baseline of 0 makes the relative check fail (the ratio is undefined).
* No baseline (a first release): change checks are reported and skipped.
* Fail closed: a missing gated metric, NaN or infinity (in the candidate, or in the
  baseline for a change check), an empty eval set, never pass. An empty gate is a
  ``ConfigError``.

Comparisons tolerate floating-point rounding (relative 1e-9), so an allowance met
exactly (0.947 vs 0.957 with ``absolute: -0.01``) passes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from leptonci.core.errors import ConfigError
from leptonci.core.numbers import DEFAULT_PRECISION, fmt

if TYPE_CHECKING:
    from leptonci.core.config import ChangeThreshold, Threshold

OK, FAIL, SKIPPED = "ok", "fail", "skipped"
_REL_TOL = 1e-9
_ABS_TOL = 1e-12


@dataclass(frozen=True)
class Baseline:
    release: str
    metrics: Mapping[str, float]
    eval_fingerprint: str = ""


@dataclass(frozen=True)
class Check:
    metric: str
    kind: str  # "value" | "change"
    status: str  # "ok" | "fail" | "skipped"
    text: str  # one line, e.g. "accuracy 0.953 >= 0.900 ok"
    candidate: float | None = None
    baseline: float | None = None
    threshold: str = ""
    delta: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "kind": self.kind,
            "status": self.status,
            "text": self.text,
            "candidate": _json_num(self.candidate),
            "baseline": _json_num(self.baseline),
            "threshold": self.threshold,
            "delta": _json_num(self.delta),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        return cls(
            metric=str(data["metric"]),
            kind=str(data["kind"]),
            status=str(data["status"]),
            text=str(data["text"]),
            candidate=_num_or_none(data.get("candidate")),
            baseline=_num_or_none(data.get("baseline")),
            threshold=str(data.get("threshold") or ""),
            delta=_num_or_none(data.get("delta")),
        )


@dataclass(frozen=True)
class Verdict:
    passed: bool
    checks: tuple[Check, ...]
    notes: tuple[str, ...] = field(default_factory=tuple)
    baseline_release: str | None = None

    @property
    def failed_checks(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if c.status == FAIL)

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "baseline_release": self.baseline_release,
            "checks": [c.to_dict() for c in self.checks],
            "notes": list(self.notes),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(
            passed=bool(data["passed"]),
            checks=tuple(Check.from_dict(c) for c in data.get("checks") or ()),
            notes=tuple(str(n) for n in data.get("notes") or ()),
            baseline_release=(
                None if data.get("baseline_release") is None else str(data["baseline_release"])
            ),
        )

    def summary_line(self) -> str:
        failed = len(self.failed_checks)
        against = f"baseline {self.baseline_release}" if self.baseline_release else "no baseline"
        if self.passed:
            return f"gate passed: {len(self.checks)} checks, {against}"
        return f"gate FAILED: {failed} of {len(self.checks)} checks failed, {against}"

    def render_text(self) -> str:
        lines = [c.text for c in self.checks]
        lines += [f"note: {n}" for n in self.notes]
        lines.append(self.summary_line())
        return "\n".join(lines) + "\n"

    def render_markdown(self, title: str = "Gate") -> str:
        mark = {OK: "✅ ok", FAIL: "❌ fail", SKIPPED: "⏭️ skipped"}
        head = "passed ✅" if self.passed else "FAILED ❌"
        against = f"`{self.baseline_release}`" if self.baseline_release else "none (first release)"
        out = [
            f"### {title}: {head}",
            "",
            f"Baseline: {against}",
            "",
            "| metric | check | candidate | baseline | threshold | result |",
            "|---|---|---|---|---|---|",
        ]
        for c in self.checks:
            cells = [
                c.metric,
                c.kind,
                _cell(c.candidate),
                _cell(c.baseline),
                c.threshold.replace("|", "\\|") or "-",
                mark.get(c.status, c.status),
            ]
            out.append("| " + " | ".join(cells) + " |")
        if self.notes:
            out.append("")
            out += [f"- {n}" for n in self.notes]
        return "\n".join(out) + "\n"


def evaluate_gate(
    gate: Mapping[str, Threshold],
    *,
    metrics: Mapping[str, float],
    eval_count: int | None,
    eval_fingerprint: str = "",
    baseline: Baseline | None = None,
    precision: int = DEFAULT_PRECISION,
) -> Verdict:
    """Check every threshold of gate; see the module docstring for the rules. Numbers in
    the check lines have ``precision`` decimals (more where two would look the same)."""
    if not gate:
        raise ConfigError(
            "no thresholds configured: a model's gate needs at least one metric",
            hint="add models.<model>.gate.<metric>.min/max/change to leptonci.yaml",
        )
    checks: list[Check] = []
    notes: list[str] = []
    if eval_count is None:  # a plain metrics file says nothing about its eval set
        notes.append("eval set size unknown (a plain metrics file): not checked")
    elif eval_count <= 0:
        checks.append(
            Check("eval_count", "value", FAIL, f"eval set is empty ({eval_count} examples) fail")
        )
    for name, threshold in gate.items():
        checks += _metric_checks(name, threshold, metrics, baseline, precision)
    if baseline is None:
        if any(t.change is not None for t in gate.values()):
            notes.append("no baseline release: change checks skipped")
    else:
        note = _fingerprint_note(eval_fingerprint, baseline.eval_fingerprint)
        if note:
            notes.append(note)
    passed = all(c.status != FAIL for c in checks)
    return Verdict(
        passed=passed,
        checks=tuple(checks),
        notes=tuple(notes),
        baseline_release=baseline.release if baseline else None,
    )


def _metric_checks(
    name: str,
    threshold: Threshold,
    metrics: Mapping[str, float],
    baseline: Baseline | None,
    precision: int = DEFAULT_PRECISION,
) -> list[Check]:
    if name not in metrics:
        have = ", ".join(sorted(metrics)) or "none"
        return [Check(name, "value", FAIL, f"metric {name!r} not found; have: {have} fail")]
    value = _as_float(metrics[name])
    if value is None or not math.isfinite(value):
        shown = metrics[name] if value is None else value
        return [Check(name, "value", FAIL, f"{name} {shown} is not a finite number fail", value)]
    checks: list[Check] = []
    if threshold.min is not None:
        ok = _at_least(value, threshold.min)
        a, b = _pair(value, threshold.min, digits=precision)
        text = f"{name} {a} >= {b} ok" if ok else f"{name} {a} < {b} (min) fail"
        checks.append(Check(name, "value", OK if ok else FAIL, text, value, None, f">= {b}"))
    if threshold.max is not None:
        ok = _at_least(threshold.max, value)
        a, b = _pair(value, threshold.max, digits=precision)
        text = f"{name} {a} <= {b} ok" if ok else f"{name} {a} > {b} (max) fail"
        checks.append(Check(name, "value", OK if ok else FAIL, text, value, None, f"<= {b}"))
    if threshold.change is not None:
        checks += _change_checks(name, value, threshold.change, baseline, precision)
    return checks


def _change_checks(
    name: str,
    value: float,
    change: ChangeThreshold,
    baseline: Baseline | None,
    precision: int = DEFAULT_PRECISION,
) -> list[Check]:
    if baseline is None:
        return [Check(name, "change", SKIPPED, f"{name} change: no baseline, skipped", value)]
    if name not in baseline.metrics:
        text = f"{name} change: baseline {baseline.release} has no metric {name!r} fail"
        return [Check(name, "change", FAIL, text, value)]
    base = _as_float(baseline.metrics[name])
    if base is None or not math.isfinite(base):
        shown = baseline.metrics[name] if base is None else base
        text = f"{name} change: baseline value {shown} is not a finite number fail"
        return [Check(name, "change", FAIL, text, value, base)]
    higher = change.direction == "higher_is_better"
    delta = value - base
    gain = delta if higher else -delta
    sign = 1.0 if higher else -1.0
    suffix = "" if higher else ", lower is better"
    checks: list[Check] = []
    if change.absolute is not None:
        ok = _at_least(gain, change.absolute)
        bound = sign * change.absolute  # the limit expressed as a delta
        word = "allowed" if change.absolute < 0 else "required"
        d, lim = _pair(delta, bound, signed=True, digits=precision)
        text = (
            f"{name} {d} vs baseline {_num(base, digits=precision)} ({word} {lim}{suffix}) "
            f"{_word(ok)}"
        )
        rel = ">=" if higher else "<="
        checks.append(
            Check(
                name, "change", OK if ok else FAIL, text, value, base, f"delta {rel} {lim}", delta
            )
        )
    if change.relative is not None:
        pct_bound = sign * change.relative * 100
        word = "allowed" if change.relative < 0 else "required"
        rel = ">=" if higher else "<="
        threshold = f"ratio {rel} {pct_bound:+.2f}%"
        if base == 0:
            text = f"{name} change: baseline is 0, relative change undefined fail"
            checks.append(Check(name, "change", FAIL, text, value, base, threshold, delta))
        else:
            ratio = delta / abs(base)
            ok = _at_least(sign * ratio, change.relative)
            d, lim = _pair(ratio * 100, pct_bound, signed=True, digits=2)
            text = (
                f"{name} {d}% vs baseline {_num(base, digits=precision)} ({word} {lim}%{suffix}) "
                f"{_word(ok)}"
            )
            checks.append(
                Check(name, "change", OK if ok else FAIL, text, value, base, threshold, delta)
            )
    return checks


def _fingerprint_note(candidate: str, baseline: str) -> str | None:
    if not baseline:
        return "the baseline has no eval fingerprint: change checks may compare different data"
    if candidate and candidate != baseline:
        return (
            f"eval data differs from the baseline's (fingerprint {_short_fp(candidate)} vs "
            f"{_short_fp(baseline)}): change checks compare different data"
        )
    return None


# -- numbers ---------------------------------------------------------------------------


def _at_least(a: float, b: float) -> bool:
    """a >= b, tolerating floating-point rounding."""
    return a >= b or math.isclose(a, b, rel_tol=_REL_TOL, abs_tol=_ABS_TOL)


def _as_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _num(value: float, *, signed: bool = False, digits: int = DEFAULT_PRECISION) -> str:
    return fmt(value, digits, signed=signed)


def _pair(a: float, b: float, *, signed: bool = False, digits: int = 3) -> tuple[str, str]:
    """Format a and b with enough digits that different numbers look different."""
    for extra in range(0, 10):
        sa, sb = (
            _num(a, signed=signed, digits=digits + extra),
            _num(b, signed=signed, digits=digits + extra),
        )
        if sa != sb or math.isclose(a, b, rel_tol=_REL_TOL, abs_tol=_ABS_TOL):
            return sa, sb
    return repr(a), repr(b)


def _word(ok: bool) -> str:
    return OK if ok else FAIL


def _short_fp(fingerprint: str) -> str:
    algo, _, digest = fingerprint.rpartition(":")
    return f"{algo + ':' if algo else ''}{digest[:8]}.."


def _cell(value: float | None) -> str:
    return "-" if value is None else _num(value)


def _json_num(value: float | None) -> float | str | None:
    if value is not None and not math.isfinite(value):
        return str(value)
    return value


def _num_or_none(value: Any) -> float | None:
    return None if value is None else _as_float(value)
