"""Promotion edge cases on real git: two models in one environment, refusals, no-ops."""

from __future__ import annotations

from pathlib import Path

import pytest

from leptonci.commands.promote import run as promote_command
from leptonci.commands.resume import run as resume_command
from leptonci.commands.rollback import run as rollback_command
from leptonci.commands.unblock import run as unblock_command
from leptonci.core.errors import PromotionRefused, UsageError
from leptonci.core.ledger import parse_ledger
from tests.fixtures.git_repo import (
    FIXED_NOW,
    REPO,
    Clone,
    enter_release,
    fake_record,
    make_clone,
    promote,
    seed_remote,
)

OTHER_MODEL = """  other:
    path: model_repo/digits
    image:
      repository: other
      name: leptonci/other
    gate:
      loss:
        max: 0.5
"""


def ledger(clone: Clone, env: str):  # type: ignore[no-untyped-def]
    return parse_ledger(clone.remote_file(f"environments/{env}/ledger.yaml"), file=env)


@pytest.fixture
def two_models(tmp_path: Path, pinned_git: None) -> Clone:
    text = (REPO / "leptonci.yaml").read_text()
    text = text.replace("\nenvironments:\n", "\n" + OTHER_MODEL + "\nenvironments:\n", 1)
    return make_clone(seed_remote(tmp_path, config_text=text), tmp_path / "clone")


def test_two_models_move_independently(two_models: Clone) -> None:
    clone = two_models
    a1, a2, a3 = (fake_record(seed=s) for s in ("1", "2", "3"))
    b1 = fake_record(model="other", seed="1")
    for record in (a1, b1, a2):
        enter_release(clone, record)
    assert promote(clone, "staging") == 0  # both models
    staging = ledger(clone, "staging")
    assert {m: r.release for m, r in staging.current.items()} == {
        "digits": a2.release,
        "other": b1.release,
    }
    b_entry = staging.current_for("other")
    enter_release(clone, a3)
    assert promote(clone, "staging") == 0
    staging = ledger(clone, "staging")
    assert staging.current_for("digits").release == a3.release  # type: ignore[union-attr]
    assert staging.current_for("other") == b_entry
    kustomization = clone.remote_file("environments/staging/kustomization.yaml")
    volume = clone.remote_file("environments/staging/model.yaml")  # digits: an image volume
    assert b1.digest in kustomization and a3.digest in volume

    # `rollback dev` with two models names the choices instead of rolling both back
    with pytest.raises(UsageError, match=f"--to {a2.release}") as info:
        rollback_command(clone.ctx(), env="dev", release=None, reason=None)
    assert "other has no earlier release in dev" in str(info.value)
    b_dev = ledger(clone, "dev").current_for("other")
    assert rollback_command(clone.ctx(), env="dev", release=a2.release, reason=None) == 0
    dev = ledger(clone, "dev")
    assert dev.current_for("digits").release == a2.release  # type: ignore[union-attr]
    assert dev.current_for("other") == b_dev and not dev.is_quarantined(b1.digest)
    assert b1.digest in clone.remote_file("environments/dev/kustomization.yaml")


def test_release_in_upstream_history_is_refused_with_the_current_one(example_clone: Clone) -> None:
    old, new = fake_record(seed="1"), fake_record(seed="2")
    enter_release(example_clone, old)
    enter_release(example_clone, new)
    with pytest.raises(PromotionRefused) as info:
        promote_command(
            example_clone.ctx(), to="staging", release=old.release, force=False, reason=None
        )
    assert f"{old.release} is not current in dev (current: {new.release})" in str(info.value)
    assert "--force --reason" in str(info.value)


def test_rollback_to_a_quarantined_release_says_unblock(example_clone: Clone) -> None:
    r1, r2, r3 = (fake_record(seed=s) for s in ("1", "2", "3"))
    for record in (r1, r2):
        enter_release(example_clone, record)
    assert rollback_command(example_clone.ctx(), env="dev", release=None, reason="bad") == 0
    assert resume_command(example_clone.ctx(), env="dev") == 0
    enter_release(example_clone, r3)
    head = example_clone.remote_git("rev-parse", "main")
    with pytest.raises(PromotionRefused, match=f"leptonci unblock dev {r2.digest}"):
        rollback_command(example_clone.ctx(), env="dev", release=r2.release, reason=None)
    assert example_clone.remote_git("rev-parse", "main") == head


def test_unblock_and_resume_with_nothing_blocked_are_noops(example_clone: Clone) -> None:
    enter_release(example_clone, fake_record(seed="1"))
    head = example_clone.remote_git("rev-parse", "main")
    ctx = example_clone.ctx()
    assert unblock_command(ctx, env="dev", target="digits-000000000000") == 0
    assert resume_command(ctx, env="dev") == 0
    out = ctx.out.stdout.getvalue()  # type: ignore[attr-defined]
    assert "nothing quarantined in dev matches digits-000000000000" in out
    assert "nothing to do" in out
    assert example_clone.remote_git("rev-parse", "main") == head
    assert example_clone.git("status", "--porcelain") == ""


def test_a_rollback_hold_stops_run_push_only_in_its_environment(
    tmp_path: Path, pinned_git: None
) -> None:
    import dataclasses
    from datetime import timedelta

    from leptonci.commands.run_push import run as run_push
    from leptonci.pipeline.train import model_content_hash
    from leptonci.promotion.delivery import promote_branch

    text = (REPO / "leptonci.yaml").read_text().replace("policy: manual", "policy: auto")
    clone = make_clone(seed_remote(tmp_path, config_text=text), tmp_path / "clone")
    key = model_content_hash(clone.ctx(), "digits")
    r1, r2 = fake_record(seed="1", model_hash=key), fake_record(seed="2", model_hash=key)
    enter_release(clone, r1)
    assert promote(clone, "staging") == 0
    enter_release(clone, r2)
    assert promote(clone, "staging") == 0
    assert rollback_command(clone.ctx(), env="staging", release=None, reason="bad") == 0
    r3 = fake_record(seed="3", model_hash=key)  # a fixed build, current in dev
    enter_release(clone, r3)
    clone.pull()

    ctx = clone.ctx()
    assert run_push(ctx) == 0
    out = ctx.out.stdout.getvalue()  # type: ignore[attr-defined]
    assert "staging: not promoting digits" in out and "leptonci resume staging" in out
    assert ledger(clone, "staging").current_for("digits").release == r1.release  # type: ignore[union-attr]
    branch = f"refs/heads/{promote_branch('prod', r1.release)}"
    refs = clone.remote_git("for-each-ref")
    assert branch in refs  # prod, downstream of the held staging, still gets its PR

    # a second run, an hour later, with nothing changed: no commit anywhere
    later = clone.ctx()
    later = dataclasses.replace(later, clock=lambda: FIXED_NOW + timedelta(hours=1))
    assert run_push(later) == 0
    assert clone.remote_git("for-each-ref") == refs
