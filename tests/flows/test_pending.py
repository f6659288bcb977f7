"""Promotions that wait for their merge: what `promote` says, what `status` shows.

Real git (a bare remote and clones), the loopback GitHub fake.
"""

from __future__ import annotations

import json

from leptonci.commands import status as status_command
from leptonci.commands.promote import run as promote_command
from leptonci.core.ledger import ReleaseRecord
from leptonci.promotion.delivery import promote_branch
from tests.fixtures.git_repo import Clone
from tests.github_fake import FakeGitHub


def _output(ctx: object) -> str:
    out = ctx.out  # type: ignore[attr-defined]
    return str(out.stdout.getvalue() + out.stderr.getvalue())


def test_a_pull_request_promotion_says_it_awaits_the_merge_and_status_lists_it(
    example_clone: Clone, staging_ahead_of_prod: ReleaseRecord, github_fake: FakeGitHub
) -> None:
    release = staging_ahead_of_prod.release
    ctx = example_clone.ctx(env=github_fake.env())
    assert promote_command(ctx, to="prod", release=None, force=False, reason=None) == 0
    [pull] = github_fake.open_pulls()
    lines = ctx.out.stdout.getvalue().splitlines()  # type: ignore[attr-defined]
    assert f"pull request opened: {pull['html_url']} (awaiting merge)" in lines
    assert "promoted into prod" not in _output(ctx)
    # the commit went to the promotion branch, on none of the user's: no sha is reported
    branch_tip = example_clone.remote_git("rev-parse", promote_branch("prod", release))
    assert branch_tip[:12] not in _output(ctx)

    plain = example_clone.ctx(env=github_fake.env())
    assert status_command.run(plain, live=False) == 0
    text = plain.out.stdout.getvalue()  # type: ignore[attr-defined]
    assert text.endswith(
        f"\npending promotions:\n  prod: {release} (pull request {pull['html_url']}, "
        "awaiting merge)\n"
    )
    as_json = example_clone.ctx(json=True, env=github_fake.env())
    assert status_command.run(as_json, live=False) == 0
    doc = json.loads(as_json.out.stdout.getvalue())  # type: ignore[attr-defined]
    assert doc["pending"] == [
        {
            "environment": "prod",
            "release": release,
            "branch": promote_branch("prod", release),
            "pull_request": pull["html_url"],
            "number": pull["number"],
            "stale": None,
        }
    ]

    # once GitHub says it is closed, nothing is pending
    github_fake.pulls[pull["number"]]["state"] = "closed"
    after = example_clone.ctx(json=True, env=github_fake.env())
    assert status_command.run(after, live=False) == 0
    assert json.loads(after.out.stdout.getvalue())["pending"] == []  # type: ignore[attr-defined]


def test_without_github_status_lists_the_unmerged_promotion_branches(
    example_clone: Clone, staging_ahead_of_prod: ReleaseRecord
) -> None:
    release = staging_ahead_of_prod.release
    ctx = example_clone.ctx()
    assert promote_command(ctx, to="prod", release=None, force=False, reason=None) == 0
    assert f"branch {promote_branch('prod', release)} pushed" in _output(ctx)
    plain = example_clone.ctx()
    assert status_command.run(plain, live=False) == 0
    text = plain.out.stdout.getvalue()  # type: ignore[attr-defined]
    assert f"  prod: {release} ({promote_branch('prod', release)}, awaiting merge)\n" in text
