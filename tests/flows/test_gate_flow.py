"""`leptonci gate`: baseline from the environment's ledger, --metrics files, exit codes."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path

import pytest

from leptonci.commands.gate import run as gate_command
from leptonci.core.candidate import Candidate, load_candidate
from leptonci.core.errors import ConfigError
from leptonci.core.ledger import ReleaseRecord, empty_ledger, render_ledger
from leptonci.pipeline.gate import baseline_for, gate_candidate
from leptonci.runtime.context import Context
from leptonci.runtime.output import Output

CONFIG = """\
project: gate-test
models:
  digits:
    path: model_repo/digits
    gate:
      accuracy:
        min: 0.90
        change:
          direction: higher_is_better
          absolute: -0.01
      loss:
        max: 0.5
environments:
  - name: dev
    path: environments/dev
  - name: prod
    path: environments/prod
    upstream: dev
"""
FP = "sha256:" + "ab" * 32


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "leptonci.yaml").write_text(CONFIG)
    (tmp_path / "model_repo" / "digits").mkdir(parents=True)
    for env in ("dev", "prod"):
        (tmp_path / "environments" / env).mkdir(parents=True)
    return tmp_path


@pytest.fixture
def release_in_dev(repo: Path) -> Path:
    record = ReleaseRecord(
        release="rel-0957",
        model="digits",
        model_hash="sha256:00",
        image="registry.example/digits",
        digest="sha256:" + "11" * 32,
        metrics={"accuracy": 0.957, "loss": 0.15},
        eval_fingerprint=FP,
    )
    ledger = empty_ledger("dev").with_release(record)
    (repo / "environments" / "dev" / "ledger.yaml").write_text(render_ledger(ledger))
    return repo


def write_metrics(folder: Path, **metrics: float) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    candidate = Candidate(
        model="digits",
        version=1,
        root=folder,
        content_hash="sha256:" + "cd" * 32,
        metrics=metrics,
        eval_fingerprint=FP,
        eval_count=360,
    )
    return candidate.write()


def make_ctx(root: Path, **env: str) -> tuple[Context, io.StringIO]:
    stdout = io.StringIO()
    return Context(root=root, out=Output(env=env, stdout=stdout, stderr=io.StringIO())), stdout


def test_no_ledger_means_no_baseline(repo: Path) -> None:
    ctx, _ = make_ctx(repo)
    assert baseline_for(ctx, model="digits", against="dev") is None


def test_baseline_is_the_current_release_in_the_environment(release_in_dev: Path) -> None:
    ctx, _ = make_ctx(release_in_dev)
    baseline = baseline_for(ctx, model="digits", against="dev")
    assert baseline is not None
    assert (baseline.release, baseline.metrics["accuracy"]) == ("rel-0957", 0.957)
    assert baseline.eval_fingerprint == FP
    assert baseline_for(ctx, model="digits", against="prod") is None


def test_gate_passes_against_dev(release_in_dev: Path, tmp_path: Path) -> None:
    metrics = write_metrics(tmp_path / "cand", accuracy=0.953, loss=0.12)
    summary = tmp_path / "summary.md"
    ctx, stdout = make_ctx(release_in_dev, GITHUB_STEP_SUMMARY=str(summary))
    assert gate_command(ctx, model="digits", against="dev", metrics=metrics) == 0
    assert stdout.getvalue().splitlines() == [
        "Gate digits-cdcdcdcdcdcd against dev",
        "accuracy 0.953 >= 0.900 ok",
        "accuracy -0.004 vs baseline 0.957 (allowed -0.010) ok",
        "loss 0.120 <= 0.500 ok",
        "gate passed: 3 checks, baseline rel-0957",
    ]
    assert summary.read_text().startswith("### Gate digits-cdcdcdcdcdcd against dev: passed")


def test_gate_fails_with_exit_1_on_regression(release_in_dev: Path, tmp_path: Path) -> None:
    metrics = write_metrics(tmp_path / "cand", accuracy=0.93, loss=0.12)
    ctx, stdout = make_ctx(release_in_dev)
    assert gate_command(ctx, model="digits", against="dev", metrics=metrics) == 1
    assert "accuracy -0.027 vs baseline 0.957 (allowed -0.010) fail" in stdout.getvalue()


def test_gate_json_output(release_in_dev: Path, tmp_path: Path) -> None:
    metrics = write_metrics(tmp_path / "cand", accuracy=0.95)
    ctx, stdout = make_ctx(release_in_dev)
    ctx.out.json_mode = True
    assert gate_command(ctx, model="digits", against="prod", metrics=metrics) == 1
    data = json.loads(stdout.getvalue())
    assert data["against"] == "prod"
    assert data["verdict"]["passed"] is False
    texts = [c["text"] for c in data["verdict"]["checks"]]
    assert "metric 'loss' not found; have: accuracy fail" in texts
    assert "accuracy change: no baseline, skipped" in texts


def test_a_candidate_with_a_nan_metric_is_refused_on_load(tmp_path: Path) -> None:
    """Written as the string "nan" (JSON has no NaN); loading refuses it (exit 2), so
    no gate ever sees it. tests/test_bad_input.py holds the other values refused."""
    write_metrics(tmp_path / "cand", accuracy=float("nan"), loss=0.1)
    with pytest.raises(ConfigError, match="metric 'accuracy': 'nan' is a string, not a number"):
        load_candidate(tmp_path / "cand" / "metrics.json")


def test_the_gate_fails_a_nan_metric_it_is_handed(release_in_dev: Path, tmp_path: Path) -> None:
    candidate = load_candidate(write_metrics(tmp_path / "cand", accuracy=0.95, loss=0.1))
    candidate = replace(candidate, metrics={"accuracy": float("nan"), "loss": 0.1})
    ctx, _ = make_ctx(release_in_dev)
    verdict = gate_candidate(ctx, candidate=candidate, against="dev")
    assert not verdict.passed
    assert verdict.checks[0].text == "accuracy nan is not a finite number fail"


def test_metrics_for_another_model_is_refused(release_in_dev: Path, tmp_path: Path) -> None:
    path = write_metrics(tmp_path / "cand", accuracy=0.95, loss=0.1)
    data = json.loads(path.read_text())
    data["model"] = "other"
    path.write_text(json.dumps(data))
    ctx, _ = make_ctx(release_in_dev)
    with pytest.raises(ConfigError, match="metrics file is for model 'other', not 'digits'"):
        gate_command(ctx, model="digits", against=None, metrics=path)


def test_unknown_environment(release_in_dev: Path, tmp_path: Path) -> None:
    metrics = write_metrics(tmp_path / "cand", accuracy=0.95, loss=0.1)
    ctx, _ = make_ctx(release_in_dev)
    with pytest.raises(ConfigError, match="unknown environment 'qa'"):
        gate_command(ctx, model="digits", against="qa", metrics=metrics)


def test_the_baseline_is_the_models_reference_by_default(
    release_in_dev: Path, tmp_path: Path
) -> None:
    """Like the pull-request gate: prod here (no reference: set, prod exists)."""
    metrics = write_metrics(tmp_path / "cand", accuracy=0.953, loss=0.12)
    ctx, stdout = make_ctx(release_in_dev)
    assert gate_command(ctx, model="digits", against=None, metrics=metrics) == 0
    assert stdout.getvalue().splitlines()[0] == "Gate digits-cdcdcdcdcdcd against prod"
    assert "accuracy change: no baseline, skipped" in stdout.getvalue()


def test_a_plain_metrics_file_is_gated_too(release_in_dev: Path, tmp_path: Path) -> None:
    """DVC's format: {"metric": value}, nested objects as a.b; the eval set size is unknown."""
    path = tmp_path / "metrics.json"
    path.write_text(json.dumps({"accuracy": 0.953, "loss": 0.12, "train": {"epochs": 3}}))
    ctx, stdout = make_ctx(release_in_dev)
    assert gate_command(ctx, model="digits", against="dev", metrics=path) == 0
    text = stdout.getvalue()
    assert "Gate digits against dev" in text and "accuracy 0.953 >= 0.900 ok" in text
    assert "eval set size unknown" in text
    path.write_text(json.dumps({"accuracy": "high"}))
    with pytest.raises(ConfigError, match="metric 'accuracy': 'high' is a string, not a number"):
        gate_command(ctx, model="digits", against="dev", metrics=path)
