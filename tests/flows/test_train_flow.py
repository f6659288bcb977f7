"""`leptonci train`: the real digits example, its SavedModel, the cache and --out."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from leptonci.adapters import training
from leptonci.commands.train import run as train_command
from leptonci.core.candidate import Candidate, load_candidate
from leptonci.core.errors import ConfigError, ExitCode
from leptonci.pipeline.train import model_content_hash, train_model
from leptonci.runtime.context import Context
from leptonci.runtime.output import Output

REPO = Path(__file__).resolve().parents[2]

CONFIG = """\
project: digits-test
cache: .leptonci/cache
models:
  digits:
    path: model_repo/digits
    params:
      epochs: 2
      batch_size: 64
    gate:
      accuracy:
        min: 0.5
        change:
          direction: higher_is_better
          absolute: -0.01
      loss:
        max: 2.0
  broken:
    path: model_repo/broken
    gate:
      accuracy:
        min: 0.5
environments:
  - name: dev
    path: environments/dev
  - name: prod
    path: environments/prod
    upstream: dev
"""


def make_repo(root: Path) -> Path:
    (root / "leptonci.yaml").write_text(CONFIG)
    shutil.copytree(
        REPO / "model_repo" / "digits",
        root / "model_repo" / "digits",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    (root / "model_repo" / "broken").mkdir(parents=True)
    (root / "model_repo" / "broken" / "train.py").write_text("def load_data(params): ...\n")
    for env in ("dev", "prod"):
        (root / "environments" / env).mkdir(parents=True)
    return root


def make_ctx(root: Path, **env: str) -> tuple[Context, io.StringIO, io.StringIO]:
    stdout, stderr = io.StringIO(), io.StringIO()
    out = Output(env=env, stdout=stdout, stderr=stderr)
    return Context(root=root, out=out, env=env), stdout, stderr


@pytest.fixture(scope="module")
def digits_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="module")
def trained_digits(digits_repo: Path) -> Candidate:
    ctx, _, _ = make_ctx(digits_repo)
    return train_model(ctx, model="digits")


def test_trained_candidate_has_serving_layout_and_metrics(trained_digits: Candidate) -> None:
    c = trained_digits
    assert not c.cached
    assert c.export_dir == c.root / "digits" / "1"
    assert (c.export_dir / "saved_model.pb").is_file()
    assert set(c.metrics) == {"accuracy", "loss"}
    assert c.metrics["accuracy"] > 0.5
    assert c.eval_count == 360
    assert c.eval_fingerprint.startswith("sha256:")
    assert c.params == {"epochs": 2, "batch_size": 64, "seed": 1234}
    assert set(c.versions) >= {"tensorflow", "numpy", "scikit-learn", "leptonci"}
    data = json.loads((c.root / "metrics.json").read_text())
    assert data["content_hash"] == c.content_hash
    assert data["wall_seconds"] > 0
    assert load_candidate(c.root / "metrics.json").metrics == c.metrics
    # the prediction sample verify checks the running model with
    assert c.sample is not None and (c.sample.count, c.sample.input) == (32, "image")
    assert data["sample"]["sha256"] == c.sample.sha256
    assert load_candidate(c.root / "metrics.json").sample == c.sample


def test_saved_model_serves_a_prediction(trained_digits: Candidate) -> None:
    import numpy as np
    import tensorflow as tf
    from sklearn.datasets import load_digits

    loaded = tf.saved_model.load(str(trained_digits.export_dir))
    serve = loaded.signatures["serving_default"]
    digits = load_digits()
    images = (digits.images[:8] / 16.0).astype("float32")[..., np.newaxis]
    (probabilities,) = serve(image=tf.constant(images)).values()
    assert probabilities.shape == (8, 10)
    np.testing.assert_allclose(probabilities.numpy().sum(axis=1), 1.0, rtol=1e-5)


def test_second_call_is_a_cache_hit_without_training(
    digits_repo: Path, trained_digits: Candidate, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("trained again on a cache hit")

    monkeypatch.setattr(training, "train_and_export", no_training)
    ctx, stdout, _ = make_ctx(digits_repo)
    again = train_model(ctx, model="digits")
    assert again.cached
    assert again.content_hash == trained_digits.content_hash
    assert again.metrics == trained_digits.metrics
    label = f"digits-{trained_digits.short_hash}"
    assert stdout.getvalue().startswith(f"cache hit: reusing candidate {label} trained 20")


def test_cache_hit_does_not_import_tensorflow(digits_repo: Path, trained_digits: Candidate) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        from leptonci.runtime.context import Context
        from leptonci.pipeline.train import train_model
        c = train_model(Context(root=Path({str(digits_repo)!r})), model="digits")
        assert c.cached, c
        assert "tensorflow" not in sys.modules and "keras" not in sys.modules
        """
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=120)


def test_out_places_a_copy(digits_repo: Path, trained_digits: Candidate, tmp_path: Path) -> None:
    ctx, _, _ = make_ctx(digits_repo)
    out = tmp_path / "candidate"
    placed = train_model(ctx, model="digits", out=out)
    assert placed.root == out.resolve()
    assert (out / "digits" / "1" / "saved_model.pb").is_file()
    assert load_candidate(out / "metrics.json").content_hash == trained_digits.content_hash
    again = train_model(ctx, model="digits", out=out)  # replacing a candidate folder is fine
    assert again.root == out.resolve()
    assert not list(tmp_path.glob(".*tmp*"))


def test_out_refuses_a_folder_with_other_files(
    digits_repo: Path, trained_digits: Candidate, tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    ctx, _, _ = make_ctx(digits_repo)
    with pytest.raises(ConfigError, match="is not a candidate folder"):
        train_model(ctx, model="digits", out=tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_content_hash_follows_code_and_config(tmp_path: Path) -> None:
    root = make_repo(tmp_path)
    ctx, _, _ = make_ctx(root)
    first = model_content_hash(ctx, "digits")
    (root / "model_repo" / "digits" / "__pycache__").mkdir()
    (root / "model_repo" / "digits" / "__pycache__" / "train.cpython-311.pyc").write_bytes(b"x")
    assert model_content_hash(make_ctx(root)[0], "digits") == first
    (root / "model_repo" / "digits" / "notes.md").write_text("hello")
    second = model_content_hash(make_ctx(root)[0], "digits")
    assert second != first
    (root / "leptonci.yaml").write_text(CONFIG.replace("epochs: 2", "epochs: 3"))
    assert model_content_hash(make_ctx(root)[0], "digits") not in (first, second)


def test_no_cache_retrains_and_replaces_the_entry(
    digits_repo: Path, trained_digits: Candidate
) -> None:
    ctx, stdout, _ = make_ctx(digits_repo)
    fresh = train_model(ctx, model="digits", use_cache=False)
    assert not fresh.cached
    assert fresh.root == trained_digits.root
    assert fresh.metrics == trained_digits.metrics  # seeded and deterministic
    assert fresh.eval_fingerprint == trained_digits.eval_fingerprint
    assert "epoch 2/2: accuracy" in stdout.getvalue()
    assert not [p for p in fresh.root.parent.iterdir() if p.name.startswith(".")]


def test_train_command_in_github_actions(
    digits_repo: Path, trained_digits: Candidate, tmp_path: Path
) -> None:
    summary, outputs = tmp_path / "summary.md", tmp_path / "outputs"
    ctx, stdout, _ = make_ctx(
        digits_repo,
        GITHUB_ACTIONS="true",
        GITHUB_STEP_SUMMARY=str(summary),
        GITHUB_OUTPUT=str(outputs),
    )
    assert train_command(ctx, model="digits", out=None, use_cache=True) == 0
    assert f"candidate digits-{trained_digits.short_hash} (cached)" in stdout.getvalue()
    assert "| accuracy |" in summary.read_text()
    assert f"model-hash={trained_digits.content_hash}" in outputs.read_text()


def test_train_command_json_and_dry_run(digits_repo: Path, trained_digits: Candidate) -> None:
    ctx, stdout, _ = make_ctx(digits_repo)
    ctx.out.json_mode = True
    assert train_command(ctx, model="digits", out=None, use_cache=True) == 0
    data = json.loads(stdout.getvalue())
    assert data["cached"] is True and data["content_hash"] == trained_digits.content_hash
    ctx, stdout, _ = make_ctx(digits_repo)
    ctx.dry_run = True
    assert train_command(ctx, model="digits", out=None, use_cache=False) == 0
    label = f"digits-{trained_digits.short_hash}"
    lines = stdout.getvalue().splitlines()
    assert lines[0] == f"Plan: train {label}"
    assert lines[1].startswith(f"  1. [train-model] train {label} here (train.on: local")
    assert lines[2].startswith(f"  2. [publish-candidate] publish candidate {label} to ")
    assert lines[-1] == "dry run: nothing was written"


def test_contract_violation_is_exit_2_and_leaves_no_cache_entry(digits_repo: Path) -> None:
    ctx, _, _ = make_ctx(digits_repo)
    with pytest.raises(ConfigError) as info:
        train_model(ctx, model="broken")
    assert info.value.exit_code == ExitCode.BAD_INPUT
    assert str(info.value).startswith(
        "model_repo/broken/train.py: missing function build_model(params)"
    )
    assert list((digits_repo / ".leptonci" / "cache" / "broken").iterdir()) == []


def test_unknown_model(digits_repo: Path) -> None:
    ctx, _, _ = make_ctx(digits_repo)
    with pytest.raises(ConfigError, match="unknown model 'nope'; have: digits, broken"):
        train_model(ctx, model="nope")


@pytest.mark.slow
def test_example_passes_its_own_gate_comfortably(tmp_path: Path) -> None:
    from leptonci.pipeline.gate import gate_candidate

    shutil.copy(REPO / "leptonci.yaml", tmp_path / "leptonci.yaml")
    shutil.copytree(
        REPO / "model_repo" / "digits",
        tmp_path / "model_repo" / "digits",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    ctx, _, _ = make_ctx(tmp_path)
    candidate = train_model(ctx, model="digits")
    assert candidate.params["epochs"] == 12
    assert candidate.metrics["accuracy"] >= 0.95 and candidate.metrics["loss"] <= 0.2
    assert gate_candidate(ctx, candidate=candidate, against="dev").passed


def test_gate_command_uses_the_cached_candidate(
    digits_repo: Path, trained_digits: Candidate, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leptonci.commands.gate import run as gate_command

    monkeypatch.setattr(training, "train_and_export", None)  # a retrain would crash
    ctx, stdout, _ = make_ctx(digits_repo)
    assert gate_command(ctx, model="digits", against=None, metrics=None) == 0
    lines = stdout.getvalue().splitlines()
    assert lines[0].startswith("cache hit: reusing candidate")
    # the model's reference environment, as in the pull-request gate (prod here)
    assert lines[1] == f"Gate digits-{trained_digits.short_hash} against prod"
    assert lines[-1] == "gate passed: 3 checks, no baseline"


def test_a_dry_run_asks_no_registry_unless_fetch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from leptonci.pipeline import candidates

    root = make_repo(tmp_path)
    config = root / "leptonci.yaml"
    config.write_text(CONFIG.replace("cache: .leptonci/cache", "registry: 127.0.0.1:9/ml"))

    def no_client(*args: object, **kwargs: object) -> None:
        raise AssertionError("a dry run without --fetch made a registry client")

    monkeypatch.setattr(candidates, "registry_client", no_client)
    ctx, stdout, _ = make_ctx(root)
    ctx.dry_run = True
    assert train_command(ctx, model="digits", out=None, use_cache=True) == 0
    text = stdout.getvalue()
    assert "the shared training cache 127.0.0.1:9/ml/leptonci-candidates was not asked" in text
    assert "[publish-candidate] publish candidate digits-" in text
    ctx, stdout, _ = make_ctx(root)
    ctx.dry_run = ctx.fetch = True
    with pytest.raises(AssertionError, match="made a registry client"):
        train_command(ctx, model="digits", out=None, use_cache=True)
