"""The whole loop on a protected main, on the GitHub fake with its protection rules.

A repository set up the way platform teams set one up: ``main`` refuses direct pushes
(GitHub's GH006, from the test remote's pre-receive hook), every change needs the
required checks ``leptonci/gate/digits`` and ``ci``, and code owners must approve
changes to the models and the config. leptonci runs with ``git.land: pull-request`` and
a GitHub App token: each environment change is a pull request it opens, reports the
gate check on and marks for auto-merge; the test plays the CI workflow the App's pull
request starts (reporting ``ci``), the code owner, and the merges' push events (the next
``leptonci run push``). PR gate, merge, release, promote through a pull request,
rollback, resume: main only ever moves by merges.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from leptonci.commands.promote import run as promote_command
from leptonci.commands.pull_request import run as run_pull_request
from leptonci.commands.resume import run as resume_command
from leptonci.commands.rollback import run as rollback_command
from leptonci.commands.run_push import run as run_push
from leptonci.core.ledger import Ledger, ReleaseRecord, parse_ledger
from leptonci.promotion.delivery import promote_branch
from leptonci.runtime.context import Context
from tests.fixtures.candidates import seed_candidate
from tests.fixtures.git_repo import (
    Clone,
    enter_release,
    fake_record,
    git,
    make_clone,
    merge_on_remote,
    seed_remote,
)
from tests.fixtures.git_repo import promote as promote_directly
from tests.github_fake import APP_TOKEN, FakeGitHub
from tests.github_fake_rules import PUSHER

CODEOWNERS = "/model_repo/ @octo-lead\n/leptonci.yaml @octo-lead\n"
CHECKS = ("leptonci/gate/digits", "ci")
GOOD = {"accuracy": 0.96, "loss": 0.12}


@dataclass
class Team:
    """The repository, its GitHub, and the people and workflows around it."""

    clone: Clone  # the checkout the release, promote and rollback workflows run in
    fake: FakeGitHub
    cache: Path  # the training cache the workflows share (actions/cache)
    tmp: Path

    def ctx(self, **env: str) -> Context:
        variables = self.fake.env(GITHUB_TOKEN=APP_TOKEN, LEPTONCI_CACHE=str(self.cache), **env)
        ctx = self.clone.ctx(env=variables)
        ctx.out.env = dict(variables)  # the job summary and $GITHUB_OUTPUT files
        return ctx

    def ledger(self, env: str) -> Ledger:
        text = self.clone.remote_file(f"environments/{env}/ledger.yaml")
        return parse_ledger(text, file=env)

    def current(self, env: str) -> ReleaseRecord:
        record = self.ledger(env).current_for("digits")
        assert record is not None
        return record

    def ci_passes(self) -> None:
        """The CI workflow the App's pull requests start reports `ci` on every open one."""
        for pull in self.fake.open_pulls():
            sha = pull["head"]["sha"]
            status, _ = self.fake._as(
                "github-actions[bot]",
                "POST",
                f"/statuses/{sha}",
                {"state": "success", "context": "ci", "description": "lint and test"},
            )
            assert status == 201

    def push_event(self) -> int:
        """A merge to main starts release.yml: `leptonci run push` on the new tip."""
        self.clone.pull()
        ctx = self.ctx()
        code = run_push(ctx)
        assert code == 0, ctx.out.stderr.getvalue()  # type: ignore[attr-defined]
        return code

    def main_moves_only_by_merges(self, since: str) -> None:
        first_parents = self.clone.remote_git("rev-list", "--first-parent", f"{since}..main")
        for commit in first_parents.split():
            parents = self.clone.remote_git("show", "-s", "--format=%P", commit).split()
            assert len(parents) == 2, f"{commit} reached main without a merge"


@pytest.fixture
def team(tmp_path: Path, pinned_git: None, github_fake: FakeGitHub) -> Team:
    """Release A already runs everywhere; then main was protected and land switched."""
    remote = seed_remote(tmp_path, envs={".github/CODEOWNERS": CODEOWNERS})
    clone = make_clone(remote, tmp_path / "clone")
    a = fake_record(seed="a")
    enter_release(clone, a)
    assert promote_directly(clone, "staging") == 0
    assert promote_directly(clone, "prod") == 0
    merge_on_remote(clone, promote_branch("prod", a.release))
    clone.pull()
    config = clone.root / "leptonci.yaml"
    config.write_text(config.read_text() + "\ngit:\n  land: pull-request\n")
    clone.git("commit", "-qam", "land environment changes through pull requests")
    clone.git("push", "-q", "origin", "main")
    github_fake.attach(remote)
    github_fake.protect("main", contexts=CHECKS, code_owners=True)
    return Team(clone, github_fake, tmp_path / "cache", tmp_path)


def open_model_pull_request(team: Team) -> tuple[Clone, int]:
    """A data scientist's pull request that tunes the model."""
    dev = make_clone(team.clone.remote, team.tmp / "laptop")
    dev.git("checkout", "-qb", "tune-digits")
    train = dev.root / "model_repo" / "digits" / "train.py"
    train.write_text(train.read_text() + "\n# tuned\n")
    dev.git("commit", "-qam", "tune digits")
    dev.git("push", "-q", "origin", "tune-digits")
    number = team.fake.add_pull_request(head="tune-digits", by="octo-dev", title="Tune digits")
    return dev, number


def gate_event(team: Team, dev: Clone, number: int) -> dict[str, str]:
    event = {
        "pull_request": {
            "number": number,
            "head": {"sha": dev.git("rev-parse", "HEAD"), "repo": {"full_name": "octo-org/models"}},
            "base": {"sha": dev.git("rev-parse", "origin/main"), "ref": "main"},
        }
    }
    path = team.tmp / "event.json"
    path.write_text(json.dumps(event))
    return team.fake.env(
        GITHUB_ACTIONS="true",
        GITHUB_EVENT_PATH=str(path),
        GITHUB_REF=f"refs/pull/{number}/merge",
        LEPTONCI_CACHE=str(team.cache),
        LEPTONCI_ACTOR="octo-dev",
    )


def land_pull(team: Team, env: str) -> dict[str, Any]:
    [pull] = [
        p for p in team.fake.pulls.values() if p["head"]["ref"].startswith(f"leptonci/land/{env}/")
    ][-1:]
    return pull


def test_the_whole_loop_on_a_protected_main(team: Team) -> None:
    fake, clone = team.fake, team.clone
    a = team.current("prod")
    start = clone.remote_git("rev-parse", "main")

    # -- PR gate: the model change is gated, held for the code owner, then merged -------
    dev, number = open_model_pull_request(team)
    ctx = dev.ctx(env=gate_event(team, dev, number))
    seed_candidate(ctx, GOOD)
    assert run_pull_request(ctx) == 0
    head = dev.git("rev-parse", "HEAD")
    [status] = fake.statuses[head]
    assert (status["context"], status["state"]) == ("leptonci/gate/digits", "success")
    team.ci_passes()
    code, answer = fake.merge(number, by="octo-dev")
    assert code == 405 and "code owner review from octo-lead" in answer["message"]
    fake.approve(number, by="octo-lead")
    assert fake.merge(number, by="octo-dev")[0] == 200

    # -- release: a direct push is refused, so dev moves through an auto-merge PR -------
    summary, outputs = team.tmp / "summary.md", team.tmp / "outputs.txt"
    team.clone.pull()
    ctx = team.ctx(GITHUB_STEP_SUMMARY=str(summary), GITHUB_OUTPUT=str(outputs))
    assert run_push(ctx) == 0
    dev_pull = land_pull(team, "dev")
    head_line = summary.read_text().splitlines()[0]
    assert head_line.startswith("## leptonci: released digits-") and "into dev awaits merge" in (
        head_line
    )
    assert "### Gate digits-" in summary.read_text()
    written = dict(line.split("=", 1) for line in outputs.read_text().splitlines())
    assert written["release"].startswith("digits-") and written["verdict"] == "pass"
    assert written["pull-request-dev"] == dev_pull["html_url"] == written["pull-request"]
    assert written["image"].endswith(written["digest"]) and written["environments"] == ""
    assert dev_pull["auto_merge"] is not None and dev_pull["state"] == "open"
    assert dev_pull["user"]["login"] == "leptonci-app[bot]"
    assert [s["context"] for s in fake.statuses[dev_pull["head"]["sha"]]] == [
        "leptonci/gate/digits"
    ]
    assert team.current("dev").release == a.release  # not current until merged
    team.ci_passes()  # the pull request's checks pass: GitHub merges it, nobody clicks
    assert dev_pull["merged"] is True
    b = team.current("dev")
    assert b.release != a.release and b.metrics["accuracy"] == GOOD["accuracy"]
    team.push_event()  # the merge's push: dev settles, staging (manual) waits

    # -- promote to staging (manual policy): a person asks, auto-merge lands it --------
    assert promote_command(team.ctx(), to="staging", release=None, force=False, reason=None) == 0
    team.ci_passes()
    assert land_pull(team, "staging")["merged"] is True
    assert team.current("staging").release == b.release

    # -- promote to prod (pull-request policy): the promotion PR waits for a person -----
    team.push_event()
    prod_pull = fake.pull_for(promote_branch("prod", b.release))
    assert prod_pull["auto_merge"] is None  # a person merges a prod promotion
    team.ci_passes()
    assert fake.blockers(prod_pull) == []  # leptonci reported the required gate check
    assert fake.merge(prod_pull["number"], by="octo-lead")[0] == 200
    team.push_event()
    assert team.current("prod").release == b.release

    # -- rollback: lands as soon as its checks pass --------------------------------------
    ctx = team.ctx()
    assert rollback_command(ctx, env="prod", release=None, reason="latency regression") == 0
    assert "auto-merge" in ctx.out.stdout.getvalue()  # type: ignore[attr-defined]
    team.ci_passes()
    rollback_pull = land_pull(team, "prod")
    assert rollback_pull["merged"] is True
    ledger = team.ledger("prod")
    restored = ledger.current_for("digits")
    assert restored is not None and restored.release == a.release
    assert ledger.is_quarantined(b.digest) and ledger.held
    team.push_event()

    # -- resume: the hold is lifted through a pull request too ---------------------------
    assert resume_command(team.ctx(), env="prod") == 0
    team.ci_passes()
    assert not team.ledger("prod").held
    team.push_event()

    team.main_moves_only_by_merges(start)
    assert all(method == "merge" for _, method in fake.merges)
    history = git(clone.root, "log", "--format=%s", "main", "--", "environments/prod")
    assert "roll back prod" in history and "resume automatic promotion into prod" in history


def test_a_bot_the_ruleset_lets_bypass_pushes_straight_to_main(
    tmp_path: Path, pinned_git: None, github_fake: FakeGitHub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other way out: `git.land: push` with a GitHub App the ruleset lists as a
    bypass actor. Its pushes pass; a person's (or the default token's) are refused."""
    remote = seed_remote(tmp_path)
    clone = make_clone(remote, tmp_path / "clone")
    enter_release(clone, fake_record(seed="a"))
    github_fake.attach(remote)
    github_fake.protect("main", contexts=CHECKS, bypass=("leptonci-app[bot]",))
    env = github_fake.env(GITHUB_TOKEN=APP_TOKEN)
    monkeypatch.setenv(PUSHER, "leptonci-app[bot]")  # the App's token in the checkout
    assert (
        promote_command(clone.ctx(env=env), to="staging", release=None, force=False, reason=None)
        == 0
    )
    assert fake_record(seed="a").release in clone.remote_file("environments/staging/ledger.yaml")
    assert github_fake.pulls == {}
