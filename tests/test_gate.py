"""Gate rules as tables: value bounds, change checks in both directions, fail-closed cases."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leptonci.core.config import Threshold
from leptonci.core.errors import ConfigError, ExitCode
from leptonci.core.gate import Baseline, Verdict, evaluate_gate


def th(**kw: Any) -> Threshold:
    return Threshold.model_validate(kw)


def up(absolute: float | None = None, relative: float | None = None) -> dict[str, Any]:
    return {"direction": "higher_is_better", "absolute": absolute, "relative": relative}


def down(absolute: float | None = None, relative: float | None = None) -> dict[str, Any]:
    return {"direction": "lower_is_better", "absolute": absolute, "relative": relative}


NAN, INF = float("nan"), float("inf")

# (id, thresholds, candidate metrics, baseline metrics or None, expected statuses in order)
CASES: list[tuple[str, dict[str, Any], dict[str, float], dict[str, float] | None, list[str]]] = [
    # -- value bounds, inclusive
    ("min above", {"acc": {"min": 0.9}}, {"acc": 0.95}, None, ["ok"]),
    ("min equal is ok", {"acc": {"min": 0.9}}, {"acc": 0.9}, None, ["ok"]),
    ("min below", {"acc": {"min": 0.9}}, {"acc": 0.8999}, None, ["fail"]),
    ("max below", {"loss": {"max": 0.5}}, {"loss": 0.1}, None, ["ok"]),
    ("max equal is ok", {"loss": {"max": 0.5}}, {"loss": 0.5}, None, ["ok"]),
    ("max above", {"loss": {"max": 0.5}}, {"loss": 0.51}, None, ["fail"]),
    ("min and max inside", {"x": {"min": 1, "max": 2}}, {"x": 1.5}, None, ["ok", "ok"]),
    ("min and max outside", {"x": {"min": 1, "max": 2}}, {"x": 2.5}, None, ["ok", "fail"]),
    # -- higher is better, negative allowance = tolerated regression
    ("up -0.01 small drop", {"a": {"change": up(-0.01)}}, {"a": 0.953}, {"a": 0.957}, ["ok"]),
    ("up -0.01 exact drop", {"a": {"change": up(-0.01)}}, {"a": 0.947}, {"a": 0.957}, ["ok"]),
    ("up -0.01 big drop", {"a": {"change": up(-0.01)}}, {"a": 0.94}, {"a": 0.957}, ["fail"]),
    ("up -0.01 improved", {"a": {"change": up(-0.01)}}, {"a": 0.99}, {"a": 0.957}, ["ok"]),
    # -- higher is better, positive allowance = required improvement
    ("up +0.01 met", {"a": {"change": up(0.01)}}, {"a": 0.97}, {"a": 0.957}, ["ok"]),
    ("up +0.01 not met", {"a": {"change": up(0.01)}}, {"a": 0.96}, {"a": 0.957}, ["fail"]),
    ("up 0 equal", {"a": {"change": up(0.0)}}, {"a": 0.957}, {"a": 0.957}, ["ok"]),
    ("up 0 lower", {"a": {"change": up(0.0)}}, {"a": 0.956}, {"a": 0.957}, ["fail"]),
    # -- lower is better: the allowance is on the decrease
    ("down -0.05 small rise", {"l": {"change": down(-0.05)}}, {"l": 0.23}, {"l": 0.2}, ["ok"]),
    ("down -0.05 big rise", {"l": {"change": down(-0.05)}}, {"l": 0.26}, {"l": 0.2}, ["fail"]),
    ("down -0.05 fell", {"l": {"change": down(-0.05)}}, {"l": 0.1}, {"l": 0.2}, ["ok"]),
    ("down +0.02 fell enough", {"l": {"change": down(0.02)}}, {"l": 0.17}, {"l": 0.2}, ["ok"]),
    (
        "down +0.02 fell too little",
        {"l": {"change": down(0.02)}},
        {"l": 0.19},
        {"l": 0.2},
        ["fail"],
    ),
    ("down +0.02 rose", {"l": {"change": down(0.02)}}, {"l": 0.21}, {"l": 0.2}, ["fail"]),
    # -- relative allowances
    ("up rel -1% ok", {"a": {"change": up(relative=-0.01)}}, {"a": 0.995}, {"a": 1.0}, ["ok"]),
    ("up rel -1% fail", {"a": {"change": up(relative=-0.01)}}, {"a": 0.98}, {"a": 1.0}, ["fail"]),
    ("up rel +5% ok", {"a": {"change": up(relative=0.05)}}, {"a": 1.06}, {"a": 1.0}, ["ok"]),
    ("up rel +5% fail", {"a": {"change": up(relative=0.05)}}, {"a": 1.04}, {"a": 1.0}, ["fail"]),
    ("down rel -10% ok", {"l": {"change": down(relative=-0.1)}}, {"l": 1.05}, {"l": 1.0}, ["ok"]),
    (
        "down rel -10% fail",
        {"l": {"change": down(relative=-0.1)}},
        {"l": 1.2},
        {"l": 1.0},
        ["fail"],
    ),
    ("down rel +10% ok", {"l": {"change": down(relative=0.1)}}, {"l": 0.85}, {"l": 1.0}, ["ok"]),
    (
        "down rel +10% fail",
        {"l": {"change": down(relative=0.1)}},
        {"l": 0.95},
        {"l": 1.0},
        ["fail"],
    ),
    ("negative baseline up", {"a": {"change": up(relative=0.1)}}, {"a": -1.0}, {"a": -2.0}, ["ok"]),
    (
        "both allowances",
        {"a": {"change": up(-0.01, -0.01)}},
        {"a": 0.95},
        {"a": 0.957},
        ["ok", "ok"],
    ),
    (
        "both, relative fails",
        {"a": {"change": up(-0.1, 0.01)}},
        {"a": 0.95},
        {"a": 0.957},
        ["ok", "fail"],
    ),
    # -- zero baseline: the relative check fails, the absolute one still computes
    (
        "zero baseline relative",
        {"a": {"change": up(relative=-0.5)}},
        {"a": 0.1},
        {"a": 0.0},
        ["fail"],
    ),
    ("zero baseline absolute", {"a": {"change": up(-0.5)}}, {"a": 0.1}, {"a": 0.0}, ["ok"]),
    # -- no baseline: change skipped, value checks still apply
    (
        "no baseline skipped",
        {"a": {"min": 0.9, "change": up(-0.01)}},
        {"a": 0.95},
        None,
        ["ok", "skipped"],
    ),
    (
        "no baseline, value fails",
        {"a": {"min": 0.9, "change": up(-0.01)}},
        {"a": 0.5},
        None,
        ["fail", "skipped"],
    ),
    # -- fail closed
    ("missing metric", {"auc": {"min": 0.5}}, {"accuracy": 0.9, "loss": 0.1}, None, ["fail"]),
    ("nan metric", {"a": {"min": 0.5}}, {"a": NAN}, None, ["fail"]),
    ("inf metric under max", {"l": {"max": 0.5}}, {"l": INF}, None, ["fail"]),
    ("-inf metric above min?", {"l": {"max": 0.5}}, {"l": -INF}, None, ["fail"]),
    ("nan with change only", {"a": {"change": up(-0.01)}}, {"a": NAN}, {"a": 0.9}, ["fail"]),
    ("baseline lacks metric", {"a": {"change": up(-0.01)}}, {"a": 0.9}, {"b": 0.9}, ["fail"]),
    ("baseline nan", {"a": {"change": up(-0.01)}}, {"a": 0.9}, {"a": NAN}, ["fail"]),
]


@pytest.mark.parametrize(
    ("gate", "metrics", "base", "statuses"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_gate_rules(
    gate: dict[str, Any],
    metrics: dict[str, float],
    base: dict[str, float] | None,
    statuses: list[str],
) -> None:
    thresholds = {name: th(**spec) for name, spec in gate.items()}
    baseline = None if base is None else Baseline("rel-1", base, "sha256:aa")
    verdict = evaluate_gate(
        thresholds, metrics=metrics, eval_count=100, eval_fingerprint="sha256:aa", baseline=baseline
    )
    assert [c.status for c in verdict.checks] == statuses, verdict.render_text()
    assert verdict.passed == ("fail" not in statuses)
    assert all("\n" not in c.text and c.text.endswith(c.status) for c in verdict.checks)


@pytest.mark.parametrize(
    ("gate", "metrics", "base", "line"),
    [
        ({"accuracy": {"min": 0.9}}, {"accuracy": 0.953}, None, "accuracy 0.953 >= 0.900 ok"),
        ({"accuracy": {"min": 0.9}}, {"accuracy": 0.85}, None, "accuracy 0.850 < 0.900 (min) fail"),
        ({"loss": {"max": 0.5}}, {"loss": 0.12}, None, "loss 0.120 <= 0.500 ok"),
        (
            {"accuracy": {"min": 0.9}},
            {"accuracy": 0.8999},
            None,
            "accuracy 0.8999 < 0.9000 (min) fail",
        ),
        (
            {"accuracy": {"change": up(-0.01)}},
            {"accuracy": 0.953},
            {"accuracy": 0.957},
            "accuracy -0.004 vs baseline 0.957 (allowed -0.010) ok",
        ),
        (
            {"accuracy": {"change": up(0.01)}},
            {"accuracy": 0.96},
            {"accuracy": 0.957},
            "accuracy +0.003 vs baseline 0.957 (required +0.010) fail",
        ),
        (
            {"loss": {"change": down(-0.05)}},
            {"loss": 0.23},
            {"loss": 0.2},
            "loss +0.030 vs baseline 0.200 (allowed +0.050, lower is better) ok",
        ),
        (
            {"accuracy": {"change": up(relative=-0.01)}},
            {"accuracy": 0.98},
            {"accuracy": 1.0},
            "accuracy -2.00% vs baseline 1.000 (allowed -1.00%) fail",
        ),
        (
            {"accuracy": {"change": up(-0.01)}},
            {"accuracy": 0.9},
            None,
            "accuracy change: no baseline, skipped",
        ),
        (
            {"auc": {"min": 0.5}},
            {"accuracy": 0.9, "loss": 0.1},
            None,
            "metric 'auc' not found; have: accuracy, loss fail",
        ),
        (
            {"a": {"change": up(relative=-0.5)}},
            {"a": 0.1},
            {"a": 0.0},
            "a change: baseline is 0, relative change undefined fail",
        ),
        (
            {"a": {"change": up(-0.01)}},
            {"a": 0.9},
            {"b": 0.9},
            "a change: baseline rel-1 has no metric 'a' fail",
        ),
    ],
)
def test_check_text(
    gate: dict[str, Any], metrics: dict[str, float], base: dict[str, float] | None, line: str
) -> None:
    thresholds = {name: th(**spec) for name, spec in gate.items()}
    baseline = None if base is None else Baseline("rel-1", base, "sha256:aa")
    verdict = evaluate_gate(thresholds, metrics=metrics, eval_count=10, baseline=baseline)
    assert verdict.checks[-1].text == line


def test_empty_eval_set_fails_closed() -> None:
    verdict = evaluate_gate({"a": th(min=0.0)}, metrics={"a": 1.0}, eval_count=0)
    assert not verdict.passed
    assert verdict.checks[0].text == "eval set is empty (0 examples) fail"


def test_empty_gate_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as info:
        evaluate_gate({}, metrics={"a": 1.0}, eval_count=10)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    assert "no thresholds" in str(info.value)


def test_fingerprint_difference_is_a_note_not_a_failure() -> None:
    baseline = Baseline("rel-1", {"a": 0.9}, "sha256:" + "cd" * 32)
    verdict = evaluate_gate(
        {"a": th(change=up(-0.01))},
        metrics={"a": 0.9},
        eval_count=10,
        eval_fingerprint="sha256:" + "ab" * 32,
        baseline=baseline,
    )
    assert verdict.passed
    assert verdict.notes == (
        "eval data differs from the baseline's (fingerprint sha256:abababab.. vs "
        "sha256:cdcdcdcd..): change checks compare different data",
    )
    assert verdict.baseline_release == "rel-1"


def test_same_fingerprint_has_no_note() -> None:
    baseline = Baseline("rel-1", {"a": 0.9}, "sha256:aa")
    verdict = evaluate_gate(
        {"a": th(min=0.1)},
        metrics={"a": 0.9},
        eval_count=1,
        eval_fingerprint="sha256:aa",
        baseline=baseline,
    )
    assert verdict.notes == ()


def test_verdict_round_trips_and_renders() -> None:
    verdict = evaluate_gate(
        {"accuracy": th(min=0.9, change=up(-0.01)), "loss": th(max=0.5), "auc": th(min=0.5)},
        metrics={"accuracy": 0.953, "loss": NAN},
        eval_count=360,
        eval_fingerprint="sha256:ab",
        baseline=Baseline("rel-abc", {"accuracy": 0.957}, "sha256:ab"),
    )
    again = Verdict.from_dict(verdict.to_dict())
    assert again.to_dict() == verdict.to_dict()
    assert not again.passed
    text = verdict.render_text().splitlines()
    assert text[:2] == [
        "accuracy 0.953 >= 0.900 ok",
        "accuracy -0.004 vs baseline 0.957 (allowed -0.010) ok",
    ]
    assert text[-1] == "gate FAILED: 2 of 4 checks failed, baseline rel-abc"
    md = verdict.render_markdown(title="Gate digits")
    assert md.startswith("### Gate digits: FAILED")
    assert "| accuracy | change | 0.953 | 0.957 | delta >= -0.010 | ✅ ok |" in md
    assert "| loss | value | nan | - | - | ❌ fail |" in md


gated = st.sampled_from(["accuracy", "loss", "auc"])
finite = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)


@st.composite
def thresholds(draw: st.DrawFn) -> dict[str, Threshold]:
    out: dict[str, Threshold] = {}
    for name in draw(st.sets(gated, min_size=1)):
        lo = draw(st.none() | finite)
        low = -1e6 if lo is None else lo
        hi = draw(st.none() | st.floats(min_value=low, max_value=1e6))
        change = draw(
            st.none()
            | st.builds(
                lambda a, d: {"direction": d, "absolute": a},
                finite,
                st.sampled_from(["higher_is_better", "lower_is_better"]),
            )
        )
        if lo is None and hi is None and change is None:
            lo = -1e9
        out[name] = th(min=lo, max=hi, change=change)
    return out


@given(
    gate=thresholds(),
    metrics=st.dictionaries(gated, st.floats(allow_nan=True, allow_infinity=True)),
    base=st.none() | st.dictionaries(gated, st.floats(allow_nan=True, allow_infinity=True)),
    broken=gated,
    how=st.sampled_from(["missing", "nan", "inf", "-inf"]),
)
def test_no_verdict_passes_with_nan_or_missing_gated_metric(
    gate: dict[str, Threshold],
    metrics: dict[str, float],
    base: dict[str, float] | None,
    broken: str,
    how: str,
) -> None:
    if broken not in gate:
        broken = next(iter(gate))
    metrics = dict(metrics)
    if how == "missing":
        metrics.pop(broken, None)
    else:
        metrics[broken] = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}[how]
    baseline = None if base is None else Baseline("rel-1", base)
    verdict = evaluate_gate(gate, metrics=metrics, eval_count=10, baseline=baseline)
    assert not verdict.passed
