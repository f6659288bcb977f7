"""A pull-request promotion merged by a human is settled by the next `leptonci run push`.

Real git (the merge happens in the bare remote), kmock's emulator for prod's cluster,
the loopback GitHub fake. The release in dev carries the model's current content hash,
so run push trains nothing and goes straight to settling what the merge landed: apply
(``direct``), verify, record, and roll back a crash-looping release (``rollback: auto``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from leptonci.commands.run_push import run as run_push
from leptonci.core.ledger import ReleaseRecord
from leptonci.promotion.delivery import promote_branch
from tests.fixtures.git_repo import REPO, Clone, enter_release, fake_record, merge_on_remote
from tests.flows.test_e2e_cluster import ClusterRig, cluster_lines, image_of, running_rig
from tests.github_fake import FakeGitHub
from tests.kube_apiserver import EmulatorThread

PROD_BLOCK = (
    "  - name: prod\n    path: environments/prod\n    upstream: staging\n"
    "    policy: pull-request\n    rollback: manual\n"
)


def prod_config(apply: str, *, cluster: bool = True) -> str:
    text = (REPO / "leptonci.yaml").read_text()
    assert PROD_BLOCK in text, "the example config changed shape"
    block = PROD_BLOCK.replace("rollback: manual", "rollback: auto")
    return text.replace(PROD_BLOCK, block + (cluster_lines("ml-prod", apply) if cluster else ""))


def release_of_current_inputs(clone: Clone, seed: str) -> ReleaseRecord:
    """A release whose model hash is the model's current one: run push trains nothing."""
    from leptonci.pipeline.train import model_content_hash

    return fake_record(seed=seed, model_hash=model_content_hash(clone.ctx(), "digits"))


def to_prod_by_pull_request(clone: Clone, record: ReleaseRecord, env: dict[str, str]) -> str:
    """Enter record in dev, promote it to staging, open prod's PR, merge it; main's tip."""
    from leptonci.commands.promote import run as promote_command

    enter_release(clone, record)
    for target in ("staging", "prod"):
        ctx = clone.ctx(env=env)
        assert promote_command(ctx, to=target, release=None, force=False, reason=None) == 0
    tip = merge_on_remote(clone, promote_branch("prod", record.release))
    clone.pull()
    return tip


GOOD_SEED, BAD_SEED = "good", "bad"


def prod_deployments(fake: FakeGitHub) -> list[dict[str, object]]:
    return [d for d in fake.deployments.values() if d["environment"] == "prod"]


@pytest.fixture(params=["direct", "gitops"])
def prod_rig(
    request: pytest.FixtureRequest, tmp_path: Path, pinned_git: None, kube_emulator: EmulatorThread
) -> Iterator[ClusterRig]:
    with running_rig(
        tmp_path,
        kube_emulator,
        env="prod",
        apply=request.param,
        crash=(),
        config_text=prod_config(request.param),
    ) as rig:
        yield rig


def test_a_merged_promotion_is_applied_verified_and_recorded(
    prod_rig: ClusterRig, github_fake: FakeGitHub
) -> None:
    rig, clone = prod_rig, prod_rig.clone
    good = release_of_current_inputs(clone, GOOD_SEED)
    to_prod_by_pull_request(clone, good, github_fake.env())
    assert rig.ledger("prod").current_for("digits").verification.result == "unverified"  # type: ignore[union-attr]

    dry = clone.ctx(dry_run=True, env=github_fake.env())
    assert run_push(dry) == 0
    text = dry.out.stdout.getvalue()  # type: ignore[attr-defined]
    assert "[step] verify digits in prod; record the result" in text
    if rig.apply == "direct":
        assert "server-side apply 2 objects of environments/prod" in text
    assert prod_deployments(github_fake) == [] and rig.applies() == []

    ctx = clone.ctx(env=github_fake.env())
    assert run_push(ctx) == 0, ctx.out.stderr.getvalue()  # type: ignore[attr-defined]
    current = rig.ledger("prod").current_for("digits")
    assert current is not None and current.release == good.release
    assert current.verification.result == "verified"
    assert rig.live() == image_of(good)
    applied = {r.resource.plural for r in rig.applies() if r.resource is not None}
    assert applied == ({"deployments", "services"} if rig.apply == "direct" else set())
    [deployment] = prod_deployments(github_fake)
    states = [s["state"] for s in reversed(github_fake.deployment_statuses[deployment["id"]])]
    assert states == ["in_progress", "success"]
    assert deployment["payload"]["release"] == good.release

    # settled: a second run changes nothing and records nothing
    head = clone.remote_git("rev-parse", "main")
    count = len(github_fake.deployments)
    assert run_push(clone.ctx(env=github_fake.env())) == 0
    assert clone.remote_git("rev-parse", "main") == head
    assert len(github_fake.deployments) == count


def test_a_merged_crash_looping_promotion_is_rolled_back(
    tmp_path: Path, pinned_git: None, kube_emulator: EmulatorThread
) -> None:
    with running_rig(
        tmp_path,
        kube_emulator,
        env="prod",
        apply="direct",
        crash=(),
        config_text=prod_config("direct"),
    ) as rig:
        clone = rig.clone
        good = release_of_current_inputs(clone, GOOD_SEED)
        bad = release_of_current_inputs(clone, BAD_SEED)
        rig.controller.outcomes[bad.digest] = "crash-loop"
        to_prod_by_pull_request(clone, good, {})
        assert run_push(clone.ctx()) == 0
        to_prod_by_pull_request(clone, bad, {})
        ctx = clone.ctx()
        assert run_push(ctx) == 1
        err = ctx.out.stderr.getvalue()  # type: ignore[attr-defined]
        assert "verification of digits in prod failed: crash-loop" in err
        assert f"restored {good.release}" in err and "leptonci resume prod" in err
        ledger = rig.ledger("prod")
        current = ledger.current_for("digits")
        assert current is not None and current.release == good.release
        assert current.action == "rollback" and current.verification.result == "verified"
        assert ledger.is_quarantined(bad.digest) and ledger.held
        assert rig.live() == image_of(good)
        assert rig.controller.rolled == [image_of(good), image_of(bad), image_of(good)]
        # staging still has bad; prod's hold and quarantine keep it out on the next run
        head = clone.remote_git("rev-parse", "main")
        again = clone.ctx()
        assert run_push(again) == 0
        assert clone.remote_git("rev-parse", "main") == head
        assert f"leptonci unblock prod {bad.digest}" in again.out.stdout.getvalue()  # type: ignore[attr-defined]


def test_without_a_cluster_a_merged_promotion_is_skipped_and_needs_nothing(
    tmp_path: Path, pinned_git: None
) -> None:
    from tests.fixtures.git_repo import make_clone, seed_remote

    remote = seed_remote(tmp_path, config_text=prod_config("direct", cluster=False))
    clone = make_clone(remote, tmp_path / "clone")
    good = release_of_current_inputs(clone, GOOD_SEED)
    tip = to_prod_by_pull_request(clone, good, {})
    from leptonci.core.ledger import parse_ledger

    ledger = parse_ledger(clone.remote_file("environments/prod/ledger.yaml"), file="prod")
    current = ledger.current_for("digits")
    assert current is not None and current.verification.result == "skipped"
    assert current.verification.detail == "no cluster configured" and current.verification.at
    assert run_push(clone.ctx()) == 0
    assert clone.remote_git("rev-parse", "main") == tip
