"""Rollback, unblock, resume and history on real git."""

from __future__ import annotations

import json

import pytest

from leptonci.commands.history import history_from_git, ledger_timeline
from leptonci.commands.history import run as history_command
from leptonci.commands.resume import run as resume_command
from leptonci.commands.rollback import run as rollback_command
from leptonci.commands.unblock import run as unblock_command
from leptonci.core.errors import PromotionRefused
from leptonci.core.ledger import ReleaseRecord, parse_ledger
from tests.fixtures.git_repo import Clone, enter_release, fake_record, promote


def dev_ledger(clone: Clone):  # type: ignore[no-untyped-def]
    return parse_ledger(clone.remote_file("environments/dev/ledger.yaml"), file="dev")


def test_rollback_restores_quarantines_and_holds(
    example_clone: Clone, two_releases_in_dev: tuple[ReleaseRecord, ReleaseRecord]
) -> None:
    good, bad = two_releases_in_dev
    commits_before = int(example_clone.remote_git("rev-list", "--count", "main"))
    assert rollback_command(example_clone.ctx(), env="dev", release=None, reason="crash loop") == 0
    # a new commit on top, never a rewrite
    assert int(example_clone.remote_git("rev-list", "--count", "main")) == commits_before + 1
    ledger = dev_ledger(example_clone)
    current = ledger.current_for("digits")
    assert current is not None and current.release == good.release and current.action == "rollback"
    assert ledger.is_quarantined(bad.digest) and ledger.held
    pinned = example_clone.remote_file("environments/dev/model.yaml")  # the image volume
    assert f"@{good.digest}" in pinned and bad.digest not in pinned
    trailers = example_clone.remote_git("log", "-1", "--format=%(trailers:only)", "main")
    assert (
        "Leptonci-Action: rollback" in trailers and f"Leptonci-Quarantine: {bad.digest}" in trailers
    )

    # the bad digest is refused, and the hold stops automatic entries
    with pytest.raises(PromotionRefused, match=f"leptonci unblock dev {bad.digest}"):
        enter_release(example_clone, bad)
    fixed = fake_record(seed="3")
    with pytest.raises(PromotionRefused, match="leptonci resume dev"):
        enter_release(example_clone, fixed)

    assert resume_command(example_clone.ctx(), env="dev") == 0
    assert not dev_ledger(example_clone).held
    enter_release(example_clone, fixed)
    assert dev_ledger(example_clone).current_for("digits").release == fixed.release  # type: ignore[union-attr]

    assert unblock_command(example_clone.ctx(), env="dev", target=bad.release) == 0
    assert not dev_ledger(example_clone).is_quarantined(bad.digest)
    enter_release(example_clone, bad)
    assert dev_ledger(example_clone).current_for("digits").release == bad.release  # type: ignore[union-attr]


def test_rollback_to_a_named_release(example_clone: Clone) -> None:
    records = [fake_record(seed=str(i)) for i in range(3)]
    for record in records:
        enter_release(example_clone, record)
    assert (
        rollback_command(example_clone.ctx(), env="dev", release=records[0].release, reason=None)
        == 0
    )
    current = dev_ledger(example_clone).current_for("digits")
    assert current is not None and current.release == records[0].release


def test_resume_without_hold_is_a_noop(example_clone: Clone, release_in_dev: ReleaseRecord) -> None:
    head = example_clone.remote_git("rev-parse", "main")
    assert resume_command(example_clone.ctx(), env="dev") == 0
    assert example_clone.remote_git("rev-parse", "main") == head


def test_history_from_git_equals_the_ledger(example_clone: Clone) -> None:
    records = [fake_record(seed=str(i)) for i in range(4)]
    for record in records:
        enter_release(example_clone, record)
    rollback_command(example_clone.ctx(), env="dev", release=None, reason="bad metrics live")
    resume_command(example_clone.ctx(), env="dev")
    enter_release(example_clone, fake_record(seed="9"))
    assert promote(example_clone, "staging") == 0
    for env in ("dev", "staging"):
        ledger = parse_ledger(
            example_clone.remote_file(f"environments/{env}/ledger.yaml"), file=env
        )
        from_git = history_from_git(example_clone.ctx(), env=env)
        assert from_git == ledger_timeline(ledger)
    assert len(history_from_git(example_clone.ctx(), env="dev")) == 6

    ctx = example_clone.ctx(json=True)
    assert history_command(ctx, env="dev", from_git=True, limit=2) == 0
    doc = json.loads(ctx.out.stdout.getvalue())  # type: ignore[attr-defined]
    assert doc["source"] == "git" and len(doc["history"]) == 2
    assert doc["history"][0]["release"] == fake_record(seed="9").release
    text_ctx = example_clone.ctx()
    history_command(text_ctx, env="dev", from_git=False, limit=None)
    table = text_ctx.out.stdout.getvalue()  # type: ignore[attr-defined]
    assert table.splitlines()[0].split() == [
        "RELEASE",
        "DIGEST",
        "ACTION",
        "FROM",
        "AT",
        "BY",
        "VERIFICATION",
    ]
    assert "rollback" in table


CLUSTER_CONFIG_LINES = "    rollback: auto\n    cluster:\n      namespace: ml-dev\n"


@pytest.fixture
def dev_with_cluster(tmp_path, pinned_git):  # type: ignore[no-untyped-def]
    from tests.fixtures.git_repo import REPO, make_clone, seed_remote

    text = (REPO / "leptonci.yaml").read_text()
    head, _, tail = text.partition("  - name: dev\n    path: environments/dev\n    policy: auto\n")
    assert tail, "the example config changed shape"
    tail = tail.replace("    rollback: auto\n", "", 1)
    text = (
        head
        + "  - name: dev\n    path: environments/dev\n    policy: auto\n"
        + CLUSTER_CONFIG_LINES
        + tail
    )
    return make_clone(seed_remote(tmp_path, config_text=text), tmp_path / "clone")


@pytest.mark.parametrize("result", ["verified", "failed"])
def test_verification_is_recorded_and_a_failure_rolls_back_at_once(
    dev_with_cluster: Clone, monkeypatch: pytest.MonkeyPatch, result: str
) -> None:
    """The cluster's answer is the edge here; tests of verify_release itself use kmock."""
    from leptonci.core.errors import VerificationFailed
    from leptonci.core.ledger import Verification
    from leptonci.engine import settling

    clone = dev_with_cluster
    good, bad = fake_record(seed="1"), fake_record(seed="2")
    enter_release(clone, good)
    enter_release(clone, bad)
    assert dev_ledger(clone).current_for("digits").verification.result == "unverified"  # type: ignore[union-attr]
    answer = Verification(
        result, "2026-01-02T03:04:05Z", "pods crash-looping" if result == "failed" else ""
    )
    monkeypatch.setattr(settling, "verify_release", lambda ctx, **kw: answer)
    ctx = clone.ctx()
    env = ctx.config.env("dev")
    if result == "verified":
        assert settling.settle(ctx, env=env, model="digits", after=None) == answer
        assert dev_ledger(clone).current_for("digits").verification == answer  # type: ignore[union-attr]
        return
    with pytest.raises(VerificationFailed) as info:
        settling.settle(ctx, env=env, model="digits", after=None)
    message = str(info.value)
    assert "crash-looping" in message and f"restored {good.release}" in message
    ledger = dev_ledger(clone)
    assert ledger.current_for("digits").release == good.release  # type: ignore[union-attr]
    assert ledger.is_quarantined(bad.digest) and ledger.held
    history = history_from_git(clone.ctx(), env="dev")
    assert [r.release for r in history] == [good.release, bad.release, good.release]
    assert history[1].verification.result == "failed"
