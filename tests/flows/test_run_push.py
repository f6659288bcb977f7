"""`leptonci run push` end to end: real training, gate, daemonless build, git promotion."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leptonci.commands.run_push import run as run_push
from leptonci.core.ledger import parse_ledger
from leptonci.pipeline.train import train_model
from tests.fixtures.git_repo import REPO, Clone, make_clone, seed_remote

pytestmark = pytest.mark.slow


def quick_config(*, min_accuracy: float = 0.5) -> str:
    text = (REPO / "leptonci.yaml").read_text()
    text = text.replace("epochs: 12", "epochs: 2").replace("min: 0.90", f"min: {min_accuracy}")
    text = text.replace("absolute: -0.01", "absolute: -1.0")
    # staging takes releases automatically here, so the chain runs dev -> staging -> prod PR
    return text.replace("policy: manual", "policy: auto")


def ledger_on(clone: Clone, env: str, ref: str = "main"):  # type: ignore[no-untyped-def]
    return parse_ledger(clone.remote_file(f"environments/{env}/ledger.yaml", ref), file=env)


@pytest.fixture
def quick_clone(tmp_path: Path, pinned_git: None) -> Clone:
    remote = seed_remote(tmp_path, config_text=quick_config())
    return make_clone(remote, tmp_path / "clone")


def test_a_dry_run_trains_nothing_and_says_the_candidate_is_unknown(quick_clone: Clone) -> None:
    clone = quick_clone
    dry = clone.ctx(dry_run=True, json=True)
    assert run_push(dry) == 0
    doc = json.loads(dry.out.stdout.getvalue())  # type: ignore[attr-defined]
    [train] = doc["plan"]["actions"]
    assert train["kind"] == "step" and "unknown until it is trained" in train["summary"]
    assert not (clone.root / ".leptonci").exists()  # no cache, no image


def test_dry_run_then_real_run_then_nothing_to_do(quick_clone: Clone) -> None:
    clone = quick_clone
    refs = clone.remote_git("for-each-ref")
    train_model(clone.ctx(), model="digits")  # a dry run plans on the cached candidate

    dry = clone.ctx(dry_run=True, json=True)
    assert run_push(dry) == 0
    doc = json.loads(dry.out.stdout.getvalue())  # type: ignore[attr-defined]
    kinds = [a["kind"] for a in doc["plan"]["actions"]]
    assert kinds[:2] == ["step", "step"]  # train, gate
    pushes = [a for a in doc["plan"]["actions"] if a["kind"] == "push-image"]
    assert len(pushes) == 1 and pushes[0]["digest"].startswith("sha256:")
    commits = [a["summary"] for a in doc["plan"]["actions"] if a["kind"] == "git-commit"]
    assert len(commits) == 3 and "into dev" in commits[0] and "into staging" in commits[1]
    assert "into prod" in commits[2] and kinds[-1] == "open-pull-request"  # prod: a pull request
    # nothing written: no refs, no tracked files, no image in the layout registry (only the
    # candidate the training published to the shared training cache beside it)
    assert clone.remote_git("for-each-ref") == refs
    assert clone.git("status", "--porcelain") == ""
    assert not (clone.root / ".leptonci" / "oci" / "digits").exists()
    assert (clone.root / ".leptonci" / "oci" / "leptonci-candidates" / "index.json").is_file()

    real = clone.ctx()
    assert run_push(real) == 0
    dev, staging = ledger_on(clone, "dev"), ledger_on(clone, "staging")
    record = dev.current_for("digits")
    assert record is not None and record.digest == pushes[0]["digest"]
    assert staging.current_for("digits").release == record.release  # type: ignore[union-attr]
    assert record.verdict["passed"] is True and record.verdict["against"] == "dev"
    assert record.verdict["baseline"] is None  # the first release: change checks skipped
    assert "accuracy change: no baseline, skipped" in record.verdict["checks"]
    assert ledger_on(clone, "prod").current == {}  # prod waits for its pull request
    branch = f"leptonci/promote/prod/{record.release}"
    assert ledger_on(clone, "prod", branch).current_for("digits").digest == record.digest  # type: ignore[union-attr]
    assert (clone.root / ".leptonci" / "oci" / "digits" / "index.json").is_file()

    head = clone.remote_git("rev-parse", "main")
    again = clone.ctx()
    assert run_push(again) == 0
    assert clone.remote_git("rev-parse", "main") == head
    assert "inputs unchanged" in again.out.stdout.getvalue()  # type: ignore[attr-defined]


def test_a_failing_gate_pushes_nothing(tmp_path: Path, pinned_git: None) -> None:
    remote = seed_remote(tmp_path, config_text=quick_config(min_accuracy=0.9999))
    clone = make_clone(remote, tmp_path / "clone")
    refs = clone.remote_git("for-each-ref")
    ctx = clone.ctx()
    assert run_push(ctx) == 1
    assert clone.remote_git("for-each-ref") == refs
    assert not (clone.root / ".leptonci" / "oci" / "digits").exists()  # no image
    assert "gate failed" in ctx.out.stderr.getvalue()  # type: ignore[attr-defined]
