"""The pure parts of the pull-request flow: which models, what event, what Markdown."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leptonci.commands.pull_request import (
    PullRequestEvent,
    build_report_plan,
    models_to_gate,
    pull_request_event,
)
from leptonci.core.actions import CreateCheckRun, SetCommitStatus, UpsertComment
from leptonci.core.config import ChangeThreshold, Threshold, load_config
from leptonci.core.gate import Baseline, Check, Verdict, evaluate_gate
from leptonci.core.ledger import Ledger, ReleaseRecord
from leptonci.core.report import (
    MAX_COMMENT,
    GateReport,
    gate_marker,
    history_points,
    render_checks_table,
    render_gate_report,
    render_metric_chart,
    status_description,
)

REPO = Path(__file__).resolve().parents[2]
GATE = {
    "accuracy": Threshold(min=0.9, change=ChangeThreshold(absolute=-0.01)),
    "loss": Threshold(max=0.5),
}


def verdict(accuracy: float = 0.953, baseline: float | None = 0.957) -> Verdict:
    base = None if baseline is None else Baseline("digits-aaaaaaaaaaaa", {"accuracy": baseline})
    return evaluate_gate(
        GATE, metrics={"accuracy": accuracy, "loss": 0.2}, eval_count=10, baseline=base
    )


def ledger(values: list[float]) -> Ledger:
    out = Ledger(environment="prod")
    for i, value in enumerate(values):
        out = out.with_release(
            ReleaseRecord(
                release=f"digits-{i:012d}",
                model="digits",
                model_hash="",
                image="i",
                digest=f"d{i}",
                metrics={"accuracy": value},
            )
        )
    return out


@pytest.mark.parametrize(
    ("changed", "expected"),
    [
        (None, ["digits"]),
        ([], []),
        (["README.md"], []),
        (["leptonci.yaml"], ["digits"]),
        (["model_repo/digits/train.py"], ["digits"]),
        (["model_repo/digits-old/train.py"], []),
        (["environments/prod/ledger.yaml"], []),
    ],
)
def test_models_to_gate(changed: list[str] | None, expected: list[str]) -> None:
    assert models_to_gate(load_config(REPO), changed) == expected


def test_event_from_payload(tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(
        json.dumps(
            {
                "pull_request": {
                    "number": 12,
                    "head": {"sha": "h" * 40, "repo": {"full_name": "fork/models"}},
                    "base": {"ref": "main", "sha": "b" * 40},
                }
            }
        )
    )
    event = pull_request_event({"GITHUB_EVENT_PATH": str(path), "GITHUB_REPOSITORY": "o/models"})
    assert event == PullRequestEvent(12, "h" * 40, "main", "b" * 40, from_fork=True)


def test_event_from_variables_only() -> None:
    env = {"GITHUB_REF": "refs/pull/7/merge", "GITHUB_SHA": "s" * 40, "GITHUB_BASE_REF": "dev"}
    assert pull_request_event(env) == PullRequestEvent(7, "s" * 40, "dev", "")
    assert pull_request_event({}).number is None


def test_marker_is_one_safe_token() -> None:
    assert gate_marker("digits", "Model Gate -->x") == "<!-- leptonci:gate:digits:Model-Gate-x -->"


def test_checks_table_has_every_number() -> None:
    table = render_checks_table(verdict().checks)
    assert table.splitlines()[3] == (
        "| accuracy | change | 0.953 | 0.957 | delta >= -0.010 | -0.004 | ✅ ok |"
    )
    odd = Check("a|b", "value", "fail", "x", float("nan"), None, ">= 1", None)
    assert "| a\\|b | value | nan | - | >= 1 | - | ❌ fail |" in render_checks_table([odd])


def test_history_points_oldest_first_and_bounded() -> None:
    points = history_points(ledger([0.91, 0.92, 0.93]), model="digits", metric="accuracy")
    assert [v for _, v in points] == [0.91, 0.92, 0.93]
    many = history_points(
        ledger([0.9 + i / 1000 for i in range(30)]), model="digits", metric="accuracy", limit=5
    )
    assert len(many) == 5 and many[-1][1] == pytest.approx(0.929)
    assert history_points(ledger([0.9]), model="other", metric="accuracy") == []


def test_chart_is_mermaid_xychart() -> None:
    chart = render_metric_chart(
        "accuracy", [("r1", 0.95), ('r"2', 0.96)], title="t", bounds=(0.9, None)
    )
    assert chart.splitlines() == [
        "```mermaid",
        '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": '
        '"#F4900C, #1D9BF0, #DD2E44"}}}}%%',
        "xychart-beta",
        '    title "t"',
        '    x-axis ["r1", "r\'2"]',
        '    y-axis "accuracy" 0.894 --> 0.966',
        "    bar [0.822, 0.96]",  # only the candidate's bar is above the axis
        "    line [0.95, 0.96]",
        "    line [0.9, 0.9]",
        "```",
        "",
        "🟧 this candidate (0.960) · 🟦 accuracy of the releases before it · "
        "🟥 threshold: min 0.900 (the gate)",
    ]
    assert render_metric_chart("accuracy", [], title="t") == ""


def test_first_release_report_has_no_chart_and_says_so() -> None:
    report = GateReport(
        "digits", "digits-0123", "prod", verdict(baseline=None), metrics={"accuracy": 0.953}
    )
    text = render_gate_report(report, marker="<!-- m -->", ledger=ledger([]))
    assert "none: no release in prod yet" in text and "mermaid" not in text
    assert "no baseline release: change checks skipped" in text


def test_huge_report_is_truncated() -> None:
    report = GateReport("digits", "d", "prod", verdict(), provenance={"x": "y" * 70_000})
    text = render_gate_report(report, marker="<!-- m -->", ledger=None)
    assert len(text) <= MAX_COMMENT and text.startswith("<!-- m -->")


def test_status_description_fits_140() -> None:
    assert status_description(verdict()) == "passed: 3 checks"
    failing = status_description(verdict(accuracy=0.5))
    assert failing.startswith("failed: accuracy 0.500 < 0.900 (min) fail (+1 more)")
    long = Verdict(False, tuple(Check("m", "value", "fail", "x" * 300) for _ in range(2)))
    assert len(status_description(long)) == 140


def test_plan_has_a_comment_and_a_status_per_model() -> None:
    report = GateReport("digits", "digits-0123", "prod", verdict())
    event = PullRequestEvent(number=5, head_sha="a" * 40, base_ref="main")
    plan = build_report_plan(
        [report],
        {},
        event=event,
        repository="o/r",
        workflow="model-gate",
        run_url="https://github.com/o/r/actions/runs/1",
    )
    comment, check, status = plan.actions
    assert isinstance(comment, UpsertComment) and isinstance(status, SetCommitStatus)
    assert isinstance(check, CreateCheckRun) and check.name == "leptonci/report/digits"
    assert "| metric | check |" in check.text and check.conclusion == "success"
    assert (comment.repository, comment.number) == ("o/r", 5)
    assert (status.repository, status.sha) == ("o/r", "a" * 40)
    assert plan.render_text().splitlines()[1:] == [
        "  1. [upsert-comment] comment on o/r#5: gate report for digits (update the existing one if any)",
        f"  2. [create-check-run] check run leptonci/report/digits=success on {'a' * 12} carrying "
        "the full report",
        f"  3. [set-commit-status] set status leptonci/gate/digits=success on {'a' * 12}",
    ]
    local = build_report_plan([report], {}, event=event, repository="", workflow="w", run_url="")
    assert local.empty and "not running in GitHub Actions" in local.notes[0]


# -- what a reviewer reads --------------------------------------------------------------


def test_a_cut_never_lands_inside_a_fence_or_details() -> None:
    """Over the limit whole blocks go, from the end; what is kept is well-formed."""
    appendix = "<details><summary>confusion matrix</summary>\n\n```\n" + "1 2 3\n" * 20_000
    appendix += "```\n\n</details>\n"
    report = GateReport(
        "digits",
        "digits-0123",
        "prod",
        verdict(),
        metrics={"accuracy": 0.953},
        bounds={"accuracy": (0.9, None)},
        provenance={"x": "y"},
        appendix=appendix,
    )
    text = render_gate_report(report, marker="<!-- m -->", ledger=ledger([0.95, 0.957]))
    assert len(text) <= MAX_COMMENT
    assert text.count("```") % 2 == 0 and text.count("<details>") == text.count("</details>")
    assert "```mermaid" in text and "confusion matrix" not in text  # the chart stays
    assert text.rstrip().endswith("the full report is in the check run and the job summary)_")
    short = render_gate_report(report, marker="<!-- m -->", ledger=None, limit=400)
    assert short.count("```") % 2 == 0 and short.count("<details>") == short.count("</details>")
    assert short.startswith("<!-- m -->\n## leptonci gate: `digits` passed")


def test_params_diff_shows_what_changed_against_the_baseline() -> None:
    report = GateReport(
        "digits",
        "digits-0123",
        "prod",
        verdict(),
        params={"epochs": 3, "batch_size": 64},
        baseline_params={"epochs": 12, "batch_size": 64},
    )
    text = render_gate_report(report, marker="<!-- m -->", ledger=None)
    assert "Params changed: `epochs` 12 → 3" in text
    assert "| epochs | 12 | 3 |" in text and "batch_size" not in text.split("Params")[1][:80]
    unknown = render_gate_report(
        GateReport("digits", "d", "prod", verdict(), params={"epochs": 3}),
        marker="<!-- m -->",
        ledger=None,
    )
    assert "`epochs` 3 (the baseline recorded none to compare with)" in unknown


def test_a_failing_gate_says_what_next() -> None:
    report = GateReport("digits", "digits-0123", "prod", verdict(accuracy=0.5))
    text = render_gate_report(report, marker="<!-- m -->", ledger=None)
    assert "### What next" in text
    assert "accuracy is outside its bound" in text
    assert "the candidate regressed against `digits-aaaaaaaaaaaa`" in text
    assert "`leptonci gate digits`" in text and "`models.digits.gate`" in text
    passing = render_gate_report(
        GateReport("digits", "d", "prod", verdict()), marker="<!-- m -->", ledger=None
    )
    assert "What next" not in passing


def test_one_precision_throughout() -> None:
    """report.precision sets the digits in the gate lines and every table alike."""
    precise = evaluate_gate(
        GATE, metrics={"accuracy": 0.95312, "loss": 0.2}, eval_count=10, precision=5
    )
    assert precise.checks[0].text == "accuracy 0.95312 >= 0.90000 ok"
    table = render_checks_table(precise.checks, precision=5)
    assert "| accuracy | value | 0.95312 | - | >= 0.90000 |" in table
    assert "| loss | value | 0.20000 |" in table
    assert "| accuracy | value | 0.953 | - |" in render_checks_table(verdict().checks)


def test_the_promotion_body_links_and_does_not_repeat_the_diff() -> None:
    from leptonci.core.config import EnvironmentConfig
    from leptonci.promotion.pr_body import Links, pull_request_body
    from leptonci.promotion.state import Change, EnvState

    record = ReleaseRecord(
        release="digits-000000000002",
        model="digits",
        model_hash="sha256:" + "a" * 64,
        image="reg/digits",
        digest="sha256:" + "b" * 64,
        source_commit="c" * 40,
        metrics={"accuracy": 0.961},
    )
    old = ReleaseRecord(
        "digits-000000000001", "digits", "h", "reg/digits", "d", metrics={"accuracy": 0.95}
    )
    env = EnvironmentConfig(name="prod", path="environments/prod", upstream="staging")
    up_env = EnvironmentConfig(name="staging", path="environments/staging")
    target = EnvState(env, {}, Ledger("prod").with_release(old), None)
    upstream = EnvState(up_env, {}, Ledger("staging").with_release(record), None)
    after = EnvState(env, {}, target.ledger.with_release(record), None)
    change = Change("prod", "digits", old.release, record.release, (), after, "promote")
    links = Links("https://github.example", "octo-org/models")
    body = pull_request_body([change], target=target, upstream=upstream, links=links)
    assert "| | |" not in body and "```diff" not in body
    assert f"[`cccccccccccc`](https://github.example/octo-org/models/commit/{'c' * 40})" in body
    assert (
        "[`digits-000000000002`](https://github.example/octo-org/models/blob/main/"
        "environments/staging/ledger.yaml)"
    ) in body
    assert "| accuracy | 0.961 | 0.950 | +0.011 |" in body
    assert "Files changed" in body
