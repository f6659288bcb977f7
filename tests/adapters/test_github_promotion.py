"""Promotion pull requests and deployment records: typed actions applied on the fake."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from leptonci.core.actions import CreateDeployment, OpenPullRequest, SetDeploymentStatus
from leptonci.core.config import load_config
from leptonci.core.errors import ConfigError, UsageError
from leptonci.core.ledger import empty_ledger
from leptonci.core.plan import Plan
from leptonci.engine.applier import Applied, Applier
from leptonci.promotion.delivery import deploy_actions, pull_request_actions
from leptonci.promotion.state import EnvState
from leptonci.runtime.context import Context
from leptonci.runtime.output import Output
from tests.github_fake import FakeGitHub


def context(root: Path, env: dict[str, str]) -> Context:
    buf = io.StringIO()
    return Context(root=root, out=Output(env=env, stdout=buf, stderr=buf), env=env)


def promotion(root: Path, release: str, repository: str | None, *, body: str = "") -> Plan:
    config = load_config(root)
    prod = config.env("prod")
    target = EnvState(env=prod, files={}, ledger=empty_ledger("prod"), ledger_text=None)
    actions = pull_request_actions(
        config,
        target=target,
        release=release,
        title=f"Promote {release} to prod",
        body=body or f"Moves {release} from staging.",
        repository=repository,
    )
    return Plan("promote", tuple(a for a in actions if isinstance(a, OpenPullRequest)))


def test_promotion_pr_is_opened_then_updated(example_repo: Path, github_fake: FakeGitHub) -> None:
    ctx = context(example_repo, github_fake.env())
    repository = github_fake.env()["GITHUB_REPOSITORY"]
    release = "digits-000000000001"
    first = Applier(ctx).apply(promotion(example_repo, release, repository, body="first body"))
    again = Applier(ctx).apply(promotion(example_repo, release, repository, body="second body"))
    assert first.pull_request == again.pull_request
    assert again.pull_request is not None and again.pull_request.endswith("/pull/1")
    [pull] = github_fake.open_pulls()
    assert pull["title"] == f"Promote {release} to prod"
    assert "<!-- leptonci:promotion:prod -->" in pull["body"]
    assert "second body" in pull["body"] and "first body" not in pull["body"]
    assert [label["name"] for label in pull["labels"]] == ["leptonci:env/prod"]


def test_promotion_pr_plan_calls_nothing(example_repo: Path, github_fake: FakeGitHub) -> None:
    plan = promotion(example_repo, "digits-000000000001", github_fake.env()["GITHUB_REPOSITORY"])
    assert plan.actions[0].summary.startswith("open or update the pull request")
    assert github_fake.requests == []


def test_promotion_pr_needs_github(example_repo: Path) -> None:
    by_hand = promotion(example_repo, "digits-000000000001", None)
    assert "by hand: GitHub is not configured" in by_hand.actions[0].summary
    Applier(context(example_repo, {})).apply(by_hand)  # prints what to open, calls nothing
    pull = promotion(example_repo, "digits-000000000001", "o/r").actions[0]
    with pytest.raises(ConfigError, match="GITHUB_TOKEN and GITHUB_REPOSITORY"):
        Applier(context(example_repo, {})).apply(Plan("p", (pull,)))


def test_deployment_is_created_once_then_gets_statuses(
    example_repo: Path, github_fake: FakeGitHub
) -> None:
    ctx = context(example_repo, github_fake.env(GITHUB_RUN_ID="9"))
    repository = github_fake.env()["GITHUB_REPOSITORY"]
    create = CreateDeployment(
        summary="create", repository=repository, environment="staging", release="digits-1"
    )
    done = Applier(ctx).apply(Plan("deploy", (create,)), Applied(commit="a" * 40))
    did = done.deployment_id
    assert did is not None
    status = SetDeploymentStatus(
        summary="finish",
        repository=repository,
        environment="staging",
        state="success",
        description="verified",
    )
    Applier(ctx).apply(Plan("finish", (status,)), done)
    assert len(github_fake.deployments) == 1
    assert github_fake.deployments[did]["payload"]["release"] == "digits-1"
    statuses = github_fake.deployment_statuses[did]
    assert [s["state"] for s in statuses] == ["success", "in_progress"]
    assert statuses[0]["target_url"].endswith("/octo-org/models/actions/runs/9")


def test_deployment_is_a_no_op_outside_github(example_repo: Path, github_fake: FakeGitHub) -> None:
    dev = load_config(example_repo).env("dev")
    assert deploy_actions(dev, releases=["r"], repository=None) == ()
    status = SetDeploymentStatus(
        summary="s", repository="o/r", environment="dev", state="success", description="d"
    )
    # no deployment was opened (no id in the result): nothing to finish, nothing called
    Applier(context(example_repo, github_fake.env())).apply(Plan("p", (status,)))
    assert github_fake.requests == []
    bad = SetDeploymentStatus(
        summary="s", repository="o/r", environment="dev", state="done", description="d"
    )
    with pytest.raises(UsageError, match="not one of"):
        Applier(context(example_repo, github_fake.env())).apply(
            Plan("p", (bad,)), Applied(deployment_id=1)
        )
