"""A promotion pull request that went stale upstream is closed, and a merge of one refused.

Staging holds two releases; prod's pull request promotes the newer one; then staging
rolls it back (quarantining its digest). Real git (a bare remote the GitHub fake merges
in), the loopback GitHub fake. The newer release carries the model's current content
hash, so `run push` trains nothing and goes straight to re-checking what waits.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from leptonci.commands import status as status_command
from leptonci.commands import validate as validate_command
from leptonci.commands.promote import run as promote_command
from leptonci.commands.rollback import run as rollback_command
from leptonci.commands.run_push import run as run_push
from leptonci.core.imageref import short_digest
from leptonci.core.ledger import ReleaseRecord, parse_ledger
from leptonci.promotion.delivery import promote_branch
from tests.fixtures.git_repo import (
    REPO,
    Clone,
    enter_release,
    fake_record,
    make_clone,
    promote,
    seed_remote,
)
from tests.flows.test_e2e_settle import PROD_BLOCK, release_of_current_inputs
from tests.github_fake import FakeGitHub


@dataclass
class Stale:
    clone: Clone
    fake: FakeGitHub
    old: ReleaseRecord  # what staging restored
    new: ReleaseRecord  # what prod's pull request promotes, rolled back in staging
    number: int  # prod's pull request

    def out(self, ctx: object) -> str:
        out = ctx.out  # type: ignore[attr-defined]
        return str(out.stdout.getvalue() + out.stderr.getvalue())

    def prod_ledger_text(self) -> str:
        return self.clone.remote_file("environments/prod/ledger.yaml")

    def merge(self, method: str = "merge") -> None:
        status, answer = self.fake.merge(self.number, by="octo-lead", method=method)
        assert status == 200, answer
        self.clone.pull()


def _stale_pull_request(clone: Clone, fake: FakeGitHub) -> Stale:
    fake.attach(clone.remote)
    old, new = fake_record(seed="old"), release_of_current_inputs(clone, "new")
    for record in (old, new):
        enter_release(clone, record)
        assert promote(clone, "staging") == 0
    ctx = clone.ctx(env=fake.env())
    assert promote_command(ctx, to="prod", release=None, force=False, reason=None) == 0
    [pull] = fake.open_pulls()
    assert pull["head"]["ref"] == promote_branch("prod", new.release)
    back = clone.ctx(env=fake.env())
    assert rollback_command(back, env="staging", release=None, reason="crash loop") == 0
    return Stale(clone, fake, old, new, pull["number"])


@pytest.fixture
def stale_pull_request(example_clone: Clone, github_fake: FakeGitHub) -> Stale:
    """prod's open pull request promotes a release staging has since rolled back."""
    return _stale_pull_request(example_clone, github_fake)


def _quarantined(stale: Stale) -> str:
    return f"{stale.new.release} ({short_digest(stale.new.digest)}) is quarantined in staging"


def test_status_marks_it_and_run_push_closes_it_with_a_comment(stale_pull_request: Stale) -> None:
    stale = stale_pull_request
    shown = stale.clone.ctx(env=stale.fake.env())
    assert status_command.run(shown, live=False) == 0
    assert f"prod: {stale.new.release} (pull request " in stale.out(shown)
    assert f"stale: {_quarantined(stale)})" in stale.out(shown)

    dry = stale.clone.ctx(dry_run=True, env=stale.fake.env())
    assert run_push(dry) == 0
    assert f"[close-pull-request] close pull request #{stale.number}" in stale.out(dry)
    assert stale.fake.pulls[stale.number]["state"] == "open"  # a dry run closes nothing

    ctx = stale.clone.ctx(env=stale.fake.env())
    assert run_push(ctx) == 0, stale.out(ctx)
    pull = stale.fake.pulls[stale.number]
    assert pull["state"] == "closed" and not pull["merged"]
    [comment] = stale.fake.comments_on(stale.number)
    assert _quarantined(stale) in comment["body"]
    assert f"may no longer promote {stale.new.release} into `prod`" in comment["body"]
    # what is current in staging now may go on to prod: a new pull request for it
    [fresh] = stale.fake.open_pulls()
    assert fresh["head"]["ref"] == promote_branch("prod", stale.old.release)

    again = stale.clone.ctx(env=stale.fake.env())
    assert run_push(again) == 0
    assert len(stale.fake.comments_on(stale.number)) == 1  # closed once, said once


@pytest.mark.parametrize("method", ["merge", "squash", "rebase"])
def test_validate_reports_a_stale_promotion_that_was_merged(
    stale_pull_request: Stale, method: str
) -> None:
    stale = stale_pull_request
    ctx = stale.clone.ctx()
    assert validate_command.run(ctx) == 0, stale.out(ctx)
    stale.merge(method)
    ctx = stale.clone.ctx()
    assert validate_command.run(ctx) == 2
    line = (
        f"ERR environments/prod/ledger.yaml: environment 'prod': {stale.new.release} reached "
        f"prod stale ({_quarantined(stale)}); restore the release before it with "
        "`leptonci rollback prod`"
    )
    assert line in stale.out(ctx).splitlines()


def test_a_promotion_merged_before_the_rollback_is_not_stale(
    example_clone: Clone, github_fake: FakeGitHub
) -> None:
    github_fake.attach(example_clone.remote)
    old, new = fake_record(seed="old"), fake_record(seed="new")
    for record in (old, new):
        enter_release(example_clone, record)
        assert promote(example_clone, "staging") == 0
    assert (
        promote_command(
            example_clone.ctx(env=github_fake.env()),
            to="prod",
            release=None,
            force=False,
            reason=None,
        )
        == 0
    )
    [pull] = github_fake.open_pulls()
    assert github_fake.merge(pull["number"], by="octo-lead")[0] == 200
    example_clone.pull()
    assert rollback_command(example_clone.ctx(), env="staging", release=None, reason="late") == 0
    ctx = example_clone.ctx()
    assert validate_command.run(ctx) == 0, ctx.out.stdout.getvalue()  # type: ignore[attr-defined]


def _prod_with_a_cluster() -> str:
    text = (REPO / "leptonci.yaml").read_text()
    assert PROD_BLOCK in text, "the example config changed shape"
    cluster = (
        "    cluster:\n      kubeconfig: no-such-kubeconfig.yaml\n"
        "      namespace: ml-prod\n      apply: gitops\n"
    )
    return text.replace(PROD_BLOCK, PROD_BLOCK + cluster)


def test_run_push_refuses_to_settle_a_stale_merge(
    tmp_path: Path, pinned_git: None, github_fake: FakeGitHub
) -> None:
    remote = seed_remote(tmp_path, config_text=_prod_with_a_cluster())
    stale = _stale_pull_request(make_clone(remote, tmp_path / "clone"), github_fake)
    stale.merge()
    before = stale.prod_ledger_text()
    record = parse_ledger(before, file="prod").current_for("digits")
    assert record is not None and record.verification.result == "unverified"

    ctx = stale.clone.ctx(env=stale.fake.env())
    assert run_push(ctx) == 1
    text = stale.out(ctx)
    assert f"{stale.new.release} reached prod stale ({_quarantined(stale)})" in text
    assert "not applying, verifying or recording it" in text
    assert stale.prod_ledger_text() == before  # nothing recorded: still "unverified"
    assert [d for d in stale.fake.deployments.values() if d["environment"] == "prod"] == []
