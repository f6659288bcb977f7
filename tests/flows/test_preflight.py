"""`run push` refuses, before training or pushing anything, what it could not record
truthfully: inputs that differ from their commit, commits not on the remote, a hold on
the first environment, a quarantined release id."""

from __future__ import annotations

from pathlib import Path

import pytest

from leptonci.commands.run_push import run as run_push
from leptonci.core.errors import UsageError
from leptonci.core.ledger import Hold, Quarantine, empty_ledger, render_ledger
from leptonci.core.release import release_id
from leptonci.pipeline.cache import model_content_hash
from tests.fixtures.git_repo import Clone, make_clone, seed_remote
from tests.flows.test_run_push import quick_config


@pytest.fixture
def quick_clone(tmp_path: Path, pinned_git: None) -> Clone:
    return make_clone(seed_remote(tmp_path, config_text=quick_config()), tmp_path / "clone")


def _nothing_happened(clone: Clone, refs: str) -> None:
    assert not (clone.root / ".leptonci").exists()  # nothing trained, cached or built
    assert clone.remote_git("for-each-ref") == refs


@pytest.mark.parametrize("dry_run", [False, True])
def test_an_uncommitted_config_edit_is_refused_before_training(
    quick_clone: Clone, dry_run: bool
) -> None:
    clone, refs = quick_clone, quick_clone.remote_git("for-each-ref")
    config = clone.root / "leptonci.yaml"
    config.write_text(config.read_text().replace("epochs: 2", "epochs: 3"))
    with pytest.raises(UsageError, match="uncommitted changes in inputs of a release") as err:
        run_push(clone.ctx(dry_run=dry_run))
    assert err.value.exit_code == 2 and "leptonci.yaml" in str(err.value)
    _nothing_happened(clone, refs)


def test_an_untracked_file_in_the_model_folder_is_refused(quick_clone: Clone) -> None:
    clone, refs = quick_clone, quick_clone.remote_git("for-each-ref")
    (clone.root / "model_repo/digits/extra_features.py").write_text("SCALE = 2\n")
    (clone.root / "model_repo/digits/__pycache__").mkdir(exist_ok=True)
    (clone.root / "model_repo/digits/__pycache__/x.pyc").write_bytes(b"")  # not an input
    with pytest.raises(UsageError, match=r"model_repo/digits/extra_features\.py") as err:
        run_push(clone.ctx())
    assert "__pycache__" not in str(err.value)
    _nothing_happened(clone, refs)


def test_a_commit_not_on_the_remote_is_refused_before_training(quick_clone: Clone) -> None:
    clone, refs = quick_clone, quick_clone.remote_git("for-each-ref")
    config = clone.root / "leptonci.yaml"
    config.write_text(config.read_text().replace("epochs: 2", "epochs: 3"))
    clone.git("commit", "--quiet", "-am", "three epochs, not pushed")
    with pytest.raises(UsageError, match="not on origin/main"):
        run_push(clone.ctx())
    _nothing_happened(clone, refs)


def _with_dev_ledger(tmp_path: Path, clone_ledger: str) -> Clone:
    remote = seed_remote(
        tmp_path,
        config_text=quick_config(),
        envs={"environments/dev/ledger.yaml": clone_ledger},
    )
    return make_clone(remote, tmp_path / "clone")


def test_a_hold_on_dev_stops_the_model_before_training(tmp_path: Path, pinned_git: None) -> None:
    held = empty_ledger("dev").with_hold(Hold(reason="manual rollback", at="t", by="ops"))
    clone = _with_dev_ledger(tmp_path, render_ledger(held))
    refs = clone.remote_git("for-each-ref")
    ctx = clone.ctx()
    assert run_push(ctx) == 1
    assert "dev is on hold (manual rollback)" in ctx.out.stderr.getvalue()  # type: ignore[attr-defined]
    _nothing_happened(clone, refs)


def test_a_quarantined_release_id_stops_the_model_before_training(
    tmp_path: Path, pinned_git: None
) -> None:
    clone = _with_dev_ledger(tmp_path, render_ledger(empty_ledger("dev")))
    release = release_id("digits", model_content_hash(clone.ctx(), "digits"))
    bad = Quarantine(digest="sha256:" + "e" * 64, release=release, reason="bad", at="t", by="ops")
    ledger = clone.root / "environments/dev/ledger.yaml"
    ledger.write_text(render_ledger(empty_ledger("dev").with_quarantine(bad)))
    clone.git("commit", "--quiet", "-am", "quarantine")
    clone.git("push", "--quiet", "origin", "main")
    refs = clone.remote_git("for-each-ref")
    ctx = clone.ctx()
    assert run_push(ctx) == 1
    assert f"{release} is quarantined in dev" in ctx.out.stderr.getvalue()  # type: ignore[attr-defined]
    _nothing_happened(clone, refs)
