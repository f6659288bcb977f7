"""Promotion pull requests and deployment records (flows/github_promotion.py) on the fake."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from leptonci.core.errors import ConfigError, UsageError
from leptonci.engine.github_records import open_promotion_pr, record_deployment
from leptonci.runtime.context import Context
from leptonci.runtime.output import Output
from tests.github_fake import FakeGitHub


def context(root: Path, env: dict[str, str], *, dry_run: bool = False) -> Context:
    buf = io.StringIO()
    return Context(root=root, out=Output(env=env, stdout=buf, stderr=buf), env=env, dry_run=dry_run)


def promote(ctx: Context, release: str) -> str:
    return open_promotion_pr(
        ctx,
        env="prod",
        release=release,
        branch="leptonci/promote/prod",
        base="main",
        title=f"Promote {release} to prod",
        body=f"Moves {release} from staging.",
    )


def test_promotion_pr_is_opened_then_updated(example_repo: Path, github_fake: FakeGitHub) -> None:
    ctx = context(example_repo, github_fake.env())
    url = promote(ctx, "digits-000000000001")
    again = promote(ctx, "digits-000000000002")
    assert url == again and url.endswith("/pull/1")
    [pull] = github_fake.open_pulls()
    assert pull["title"] == "Promote digits-000000000002 to prod"
    assert "<!-- leptonci:promotion:prod -->" in pull["body"]
    assert "digits-000000000002" in pull["body"] and "digits-000000000001" not in pull["body"]
    assert [label["name"] for label in pull["labels"]] == ["leptonci:env/prod"]


def test_promotion_pr_dry_run_calls_nothing(example_repo: Path, github_fake: FakeGitHub) -> None:
    text = promote(context(example_repo, github_fake.env(), dry_run=True), "digits-000000000001")
    assert text.startswith("(dry run) would open or update the pull request")
    assert github_fake.requests == []


def test_promotion_pr_needs_github(example_repo: Path) -> None:
    with pytest.raises(ConfigError, match="needs GitHub"):
        promote(context(example_repo, {}), "digits-000000000001")


def test_deployment_is_created_once_then_gets_statuses(
    example_repo: Path, github_fake: FakeGitHub
) -> None:
    ctx = context(example_repo, github_fake.env(GITHUB_RUN_ID="9"))
    did = record_deployment(
        ctx,
        env="staging",
        release="digits-000000000001",
        ref="a" * 40,
        state="in_progress",
        description="rolling out",
    )
    assert did is not None
    same = record_deployment(
        ctx,
        env="staging",
        release="digits-000000000001",
        ref="a" * 40,
        state="success",
        description="verified",
        deployment_id=did,
    )
    assert same == did and len(github_fake.deployments) == 1
    assert github_fake.deployments[did]["payload"]["release"] == "digits-000000000001"
    statuses = github_fake.deployment_statuses[did]
    assert [s["state"] for s in statuses] == ["success", "in_progress"]
    assert statuses[0]["target_url"].endswith("/octo-org/models/actions/runs/9")


def test_deployment_is_a_no_op_outside_github(example_repo: Path, github_fake: FakeGitHub) -> None:
    assert (
        record_deployment(
            context(example_repo, {}),
            env="dev",
            release="r",
            ref="main",
            state="success",
            description="d",
        )
        is None
    )
    dry = context(example_repo, github_fake.env(), dry_run=True)
    assert (
        record_deployment(dry, env="dev", release="r", ref="main", state="success", description="d")
        is None
    )
    assert github_fake.requests == []
    with pytest.raises(UsageError, match="not one of"):
        record_deployment(dry, env="dev", release="r", ref="main", state="done", description="")
