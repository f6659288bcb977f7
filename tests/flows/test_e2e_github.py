"""GitHub during promotion, end to end: real git, the loopback GitHub fake, kmock's emulator.

A pull-request policy opens (then updates) one labelled promotion PR; every direct
promotion is mirrored as a GitHub deployment (in_progress, then success or failure);
an automatic rollback marks the failed deployment and records the restore. GitHub
failing while recording a deployment is a warning; failing to open the PR is exit 3.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from leptonci import cli
from leptonci.commands.promote import run as promote_command
from leptonci.core.errors import VerificationFailed
from leptonci.core.ledger import ReleaseRecord, parse_ledger
from tests.fixtures.git_repo import Clone, enter_release
from tests.flows.test_e2e_cluster import BAD, GOOD, ClusterRig, running_rig
from tests.github_fake import TOKEN, FakeGitHub
from tests.kube_apiserver import EmulatorThread


def promote_with(clone: Clone, fake: FakeGitHub, to: str, *, dry_run: bool = False) -> Any:
    ctx = clone.ctx(env=fake.env(), dry_run=dry_run)
    code = promote_command(ctx, to=to, release=None, force=False, reason=None)
    return code, ctx


def output(ctx: Any) -> str:
    return str(ctx.out.stdout.getvalue() + ctx.out.stderr.getvalue())


def statuses(fake: FakeGitHub, deployment: dict[str, Any]) -> list[str]:
    """A deployment's status states, oldest first."""
    return [s["state"] for s in reversed(fake.deployment_statuses[deployment["id"]])]


def deployments(fake: FakeGitHub) -> list[dict[str, Any]]:
    return sorted(fake.deployments.values(), key=lambda d: d["id"])


# -- pull-request policy ----------------------------------------------------------------


def test_a_pull_request_promotion_opens_one_pr_and_updates_it(
    example_clone: Clone, staging_ahead_of_prod: ReleaseRecord, github_fake: FakeGitHub
) -> None:
    release = staging_ahead_of_prod.release
    main = example_clone.remote_git("rev-parse", "main")
    code, ctx = promote_with(example_clone, github_fake, "prod")
    assert code == 0
    [pull] = github_fake.open_pulls()
    assert pull["head"]["ref"] == f"leptonci/promote/prod/{release}"
    assert pull["base"]["ref"] == "main" and pull["title"] == f"Promote {release} to prod"
    assert [label["name"] for label in pull["labels"]] == ["leptonci:env/prod"]
    assert "<!-- leptonci:promotion:prod -->" in pull["body"] and release in pull["body"]
    assert example_clone.remote_git("rev-parse", "main") == main  # main waits for the merge
    assert github_fake.deployments == {}  # nothing deployed until the PR merges
    assert pull["html_url"] in output(ctx)

    code, _ = promote_with(example_clone, github_fake, "prod")
    assert code == 0
    [again] = github_fake.open_pulls()
    assert again["number"] == pull["number"]
    assert [r for r in github_fake.requests if r == ("POST", "/repos/octo-org/models/pulls")] == [
        ("POST", "/repos/octo-org/models/pulls")
    ]


def test_failing_to_open_the_pr_exits_3(
    example_clone: Clone,
    staging_ahead_of_prod: ReleaseRecord,
    github_fake: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    github_fake.deny.add("pull-requests")
    main = example_clone.remote_git("rev-parse", "main")
    for key, value in github_fake.env(LEPTONCI_ACTOR="tester").items():
        monkeypatch.setenv(key, value)
    capsys.readouterr()
    code = cli.main(["-C", str(example_clone.root), "promote", "--to", "prod"])
    out, err = capsys.readouterr()
    assert code == 3
    assert "needs pull-requests: write" in err and TOKEN not in out + err
    assert example_clone.remote_git("rev-parse", "main") == main
    assert example_clone.git("rev-parse", "HEAD") == main  # the clone is back on the tip
    assert example_clone.git("status", "--porcelain") == ""


# -- deployments ------------------------------------------------------------------------


def test_a_promotion_is_recorded_as_a_deployment(
    example_clone: Clone, release_in_dev: ReleaseRecord, github_fake: FakeGitHub
) -> None:
    code, _ = promote_with(example_clone, github_fake, "staging")
    assert code == 0
    [deployment] = deployments(github_fake)
    assert deployment["environment"] == "staging"
    assert deployment["payload"] == {"release": release_in_dev.release, "tool": "leptonci"}
    assert deployment["ref"] == example_clone.remote_git("rev-parse", "main")
    assert statuses(github_fake, deployment) == ["in_progress", "success"]


def test_github_failing_to_record_a_deployment_is_a_warning(
    example_clone: Clone, release_in_dev: ReleaseRecord, github_fake: FakeGitHub
) -> None:
    github_fake.deny.add("deployments")
    code, ctx = promote_with(example_clone, github_fake, "staging")
    assert code == 0
    assert "could not record the GitHub deployment" in output(ctx)
    assert "the promotion itself landed" in output(ctx)
    ledger = parse_ledger(example_clone.remote_file("environments/staging/ledger.yaml"), file="x")
    assert ledger.current_for("digits").release == release_in_dev.release  # type: ignore[union-attr]


@pytest.fixture
def staging_rig(
    tmp_path: Path, pinned_git: None, kube_emulator: EmulatorThread
) -> Iterator[ClusterRig]:
    with running_rig(
        tmp_path, kube_emulator, env="staging", apply="direct", crash=(BAD.digest,)
    ) as rig:
        yield rig


def test_dry_run_shows_the_github_and_cluster_calls(
    staging_rig: ClusterRig, github_fake: FakeGitHub
) -> None:
    enter_release(staging_rig.clone, GOOD)
    code, ctx = promote_with(staging_rig.clone, github_fake, "staging", dry_run=True)
    assert code == 0
    lines = [x.strip() for x in output(ctx).splitlines()]
    calls = [
        x.split(". ", 1)[1]
        for x in lines
        if "[create-deployment]" in x or "[server-side-apply]" in x
    ]
    assert calls == [
        f"[create-deployment] create the GitHub deployment of {GOOD.release} to staging in "
        "octo-org/models: in_progress, then success or failure after verification",
        "[server-side-apply] server-side apply 2 objects of environments/staging to "
        "current-context/ml-staging",
    ]
    assert github_fake.requests == [] and staging_rig.applies() == []


def test_an_automatic_rollback_fails_the_deployment_and_records_the_restore(
    staging_rig: ClusterRig, github_fake: FakeGitHub
) -> None:
    rig = staging_rig
    enter_release(rig.clone, GOOD)
    assert promote_with(rig.clone, github_fake, "staging")[0] == 0
    enter_release(rig.clone, BAD)
    with pytest.raises(VerificationFailed, match=f"crash-loop.*restored {GOOD.release}"):
        promote_with(rig.clone, github_fake, "staging")
    first, failed, restore = deployments(github_fake)
    assert [d["payload"]["release"] for d in (first, failed, restore)] == [
        GOOD.release,
        BAD.release,
        GOOD.release,
    ]
    assert statuses(github_fake, first) == ["in_progress", "success"]
    assert statuses(github_fake, failed) == ["in_progress", "failure"]
    assert github_fake.deployment_statuses[failed["id"]][0]["description"].startswith(
        "crash-loop: deployment/digits-serving in ml-staging"
    )
    ledger = parse_ledger(rig.clone.remote_file("environments/staging/ledger.yaml"), file="staging")
    verified = ledger.current_for("digits").verification.verified  # type: ignore[union-attr]
    assert statuses(github_fake, restore) == ["in_progress", "success" if verified else "failure"]
