"""`leptonci run pull-request` end to end: a real git repository, the fake GitHub.

Candidates come from the real training cache (seeded with metrics.json and a
SavedModel stub under the content hash), so the flow runs its real train -> gate ->
report path without spending a minute in TensorFlow.
"""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

from leptonci import cli
from leptonci.commands.pull_request import run as run_pull_request
from leptonci.core.ledger import Ledger, ReleaseRecord, render_ledger
from leptonci.runtime.context import Context
from leptonci.runtime.output import Output
from tests.fixtures.candidates import seed_candidate
from tests.fixtures.secret_forms import without_mask_lines
from tests.github_fake import TOKEN, FakeGitHub

GOOD = {"accuracy": 0.96, "loss": 0.12}


BAD = {"accuracy": 0.52, "loss": 0.9}


def git(root: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=root, check=True, capture_output=True, text=True
    ).stdout.strip()


@dataclass
class PullRequestRepo:
    root: Path
    base_sha: str
    tmp: Path

    def head(self) -> str:
        return git(self.root, "rev-parse", "HEAD")

    def commit_model_change(self, note: str) -> str:
        train = self.root / "model_repo" / "digits" / "train.py"
        train.write_text(train.read_text() + f"\n# {note}\n")
        git(self.root, "commit", "-qam", note)
        return self.head()

    def context(
        self, env: Mapping[str, str], *, dry_run: bool = False
    ) -> tuple[Context, io.StringIO]:
        buf = io.StringIO()
        out = Output(env=env, stdout=buf, stderr=buf)
        return Context(root=self.root, out=out, env=dict(env), dry_run=dry_run), buf

    def event_env(self, fake: FakeGitHub, number: int, *, fork: bool = False) -> dict[str, str]:
        head_repo = "someone/models" if fork else "octo-org/models"
        event = {
            "pull_request": {
                "number": number,
                "head": {"sha": self.head(), "ref": "feature", "repo": {"full_name": head_repo}},
                "base": {"sha": self.base_sha, "ref": "main"},
            }
        }
        path = self.tmp / "event.json"
        path.write_text(json.dumps(event))
        return fake.env(
            GITHUB_ACTIONS="true",
            GITHUB_EVENT_PATH=str(path),
            GITHUB_WORKFLOW="model-gate",
            GITHUB_RUN_ID="77",
            GITHUB_REF=f"refs/pull/{number}/merge",
            GITHUB_STEP_SUMMARY=str(self.tmp / "summary.md"),
            GITHUB_OUTPUT=str(self.tmp / "output.txt"),
        )


def prod_ledger(values: list[float]) -> str:
    ledger = Ledger(environment="prod")
    for i, value in enumerate(values):
        ledger = ledger.with_release(
            ReleaseRecord(
                release=f"digits-{i:012x}",
                model="digits",
                model_hash=f"sha256:{i}",
                image="leptonci/digits",
                digest=f"sha256:{i:064x}",
                metrics={"accuracy": value, "loss": 0.2},
                eval_fingerprint="sha256:" + "e" * 64,
            )
        )
    return render_ledger(ledger)


@pytest.fixture
def pr_repo(example_repo: Path, tmp_path: Path) -> PullRequestRepo:
    """The example repository with prod's history on main and a PR branch changing digits."""
    root = example_repo
    (root / "environments" / "prod" / "ledger.yaml").write_text(prod_ledger([0.95, 0.955]))
    (root / ".gitignore").write_text(".leptonci/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.email", "t@example.com")
    git(root, "config", "user.name", "T")
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    base = git(root, "rev-parse", "HEAD")
    git(root, "checkout", "-qb", "feature")
    repo = PullRequestRepo(root, base, tmp_path)
    repo.commit_model_change("tune the model")
    return repo


def test_two_runs_leave_one_updated_comment(
    pr_repo: PullRequestRepo, github_fake: FakeGitHub
) -> None:
    number = github_fake.add_pull_request(head="feature", sha=pr_repo.head())
    env = pr_repo.event_env(github_fake, number)
    ctx, _ = pr_repo.context(env)
    first_key = seed_candidate(ctx, GOOD)
    assert run_pull_request(ctx) == 0
    [comment] = github_fake.comments_on(number)
    assert comment["body"].startswith("<!-- leptonci:gate:digits:model-gate -->")
    assert first_key.split(":")[1][:12] in comment["body"]
    assert "xychart-beta" in comment["body"] and "| accuracy | change |" in comment["body"]
    assert github_fake.statuses[pr_repo.head()][0]["context"] == "leptonci/gate/digits"

    second_head = pr_repo.commit_model_change("tune again")
    env = pr_repo.event_env(github_fake, number)
    ctx, _ = pr_repo.context(env)
    second_key = seed_candidate(ctx, {"accuracy": 0.97, "loss": 0.1})
    assert run_pull_request(ctx) == 0
    [updated] = github_fake.comments_on(number)
    assert updated["id"] == comment["id"]
    assert second_key.split(":")[1][:12] in updated["body"]
    assert first_key.split(":")[1][:12] not in updated["body"]
    assert github_fake.statuses[second_head][0]["state"] == "success"
    summary = (pr_repo.tmp / "summary.md").read_text()
    assert summary.count("## leptonci model gate") == 2


def test_failing_gate_exits_1_and_reports_failure(
    pr_repo: PullRequestRepo, github_fake: FakeGitHub
) -> None:
    number = github_fake.add_pull_request(head="feature", sha=pr_repo.head())
    ctx, buf = pr_repo.context(pr_repo.event_env(github_fake, number))
    seed_candidate(ctx, BAD)
    assert run_pull_request(ctx) == 1
    [status] = github_fake.statuses[pr_repo.head()]
    assert status["state"] == "failure" and status["description"].startswith("failed: accuracy")
    [comment] = github_fake.comments_on(number)
    assert "FAILED ❌" in comment["body"] and "❌ fail" in comment["body"]
    assert "gate=fail" in (pr_repo.tmp / "output.txt").read_text()
    assert "::error::gate digits-" in buf.getvalue()


def test_dry_run_prints_the_plan_and_calls_nothing(
    pr_repo: PullRequestRepo, github_fake: FakeGitHub
) -> None:
    number = github_fake.add_pull_request(head="feature", sha=pr_repo.head())
    github_fake.requests.clear()
    ctx, buf = pr_repo.context(pr_repo.event_env(github_fake, number), dry_run=True)
    seed_candidate(ctx, GOOD)
    assert run_pull_request(ctx) == 0
    assert github_fake.requests == []
    text = buf.getvalue()
    assert "Plan: report the model gate on the pull request" in text
    assert f"[upsert-comment] comment on octo-org/models#{number}: gate report for digits" in text
    assert "[set-commit-status] set status leptonci/gate/digits=success" in text


def test_unrelated_change_gates_nothing(pr_repo: PullRequestRepo, github_fake: FakeGitHub) -> None:
    git(pr_repo.root, "reset", "-q", "--hard", pr_repo.base_sha)
    (pr_repo.root / "NOTES.md").write_text("docs only\n")
    git(pr_repo.root, "add", "NOTES.md")
    git(pr_repo.root, "commit", "-qm", "docs")
    number = github_fake.add_pull_request(head="feature", sha=pr_repo.head())
    ctx, buf = pr_repo.context(pr_repo.event_env(github_fake, number))
    assert run_pull_request(ctx) == 0
    assert github_fake.comments_on(number) == []
    [status] = github_fake.statuses[pr_repo.head()]  # a required check never waits
    assert (status["context"], status["state"]) == ("leptonci/gate/digits", "success")
    assert status["description"] == "passed: no model input changed"
    assert "no model inputs changed" in buf.getvalue()


def test_outside_github_reports_locally(pr_repo: PullRequestRepo) -> None:
    ctx, buf = pr_repo.context({"LEPTONCI_BASE_REF": "main"})
    seed_candidate(ctx, GOOD)
    assert run_pull_request(ctx) == 0
    text = buf.getvalue()
    assert "accuracy 0.960 >= 0.900 ok" in text
    assert "not running in GitHub Actions" in text


def test_fork_pull_request_posts_nothing(pr_repo: PullRequestRepo, github_fake: FakeGitHub) -> None:
    number = github_fake.add_pull_request(head="feature", sha=pr_repo.head())
    ctx, buf = pr_repo.context(pr_repo.event_env(github_fake, number, fork=True))
    seed_candidate(ctx, GOOD)
    assert run_pull_request(ctx) == 0
    assert github_fake.comments_on(number) == []
    assert "pull request from a fork" in buf.getvalue()


def test_missing_permission_exits_3_without_the_token(
    pr_repo: PullRequestRepo,
    github_fake: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    number = github_fake.add_pull_request(head="feature", sha=pr_repo.head())
    env = pr_repo.event_env(github_fake, number)
    ctx, _ = pr_repo.context(env)
    seed_candidate(ctx, GOOD)
    github_fake.deny.add("pull-requests")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = cli.main(["-C", str(pr_repo.root), "run", "pull-request"])
    out, err = capsys.readouterr()
    assert code == 3
    assert "needs pull-requests: write" in err
    # announced to the runner (which masks it from then on), and written nowhere else
    assert f"::add-mask::{TOKEN}" in out.splitlines()
    assert TOKEN not in without_mask_lines([out, err])


def test_bad_token_exits_3_without_the_token(
    pr_repo: PullRequestRepo,
    github_fake: FakeGitHub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    number = github_fake.add_pull_request(head="feature", sha=pr_repo.head())
    env = pr_repo.event_env(github_fake, number)
    ctx, _ = pr_repo.context(env)
    seed_candidate(ctx, GOOD)
    wrong = "not-the-right-token-0123456789"
    env["GITHUB_TOKEN"] = wrong
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    code = cli.main(["-C", str(pr_repo.root), "--json", "run", "pull-request"])
    out, err = capsys.readouterr()
    assert code == 3 and "401" in out + err
    assert f"::add-mask::{wrong}" in err.splitlines()  # --json: stdout holds only JSON
    shown = without_mask_lines([out, err])
    assert wrong not in shown and TOKEN not in shown


def test_a_check_run_carries_the_full_report_beside_the_status(
    pr_repo: PullRequestRepo, github_fake: FakeGitHub
) -> None:
    number = github_fake.add_pull_request(head="feature", sha=pr_repo.head())
    notes = pr_repo.tmp / "report.md"
    notes.write_text("## Confusion matrix\n\n![matrix](https://example.test/cm.png)\n")
    ctx, _ = pr_repo.context(pr_repo.event_env(github_fake, number))
    seed_candidate(ctx, GOOD)
    assert run_pull_request(ctx, append=notes) == 0
    [run] = github_fake.check_runs[pr_repo.head()]
    assert run["name"] == "leptonci/report/digits" and run["conclusion"] == "success"
    assert "| accuracy | change |" in run["output"]["text"]
    assert run["output"]["summary"] == "passed: 3 checks"
    [comment] = github_fake.comments_on(number)
    assert comment["body"].rstrip().endswith("![matrix](https://example.test/cm.png)")
    assert "## Confusion matrix" in run["output"]["text"]


def test_a_dry_run_prints_the_comment_it_would_post(
    pr_repo: PullRequestRepo, github_fake: FakeGitHub
) -> None:
    number = github_fake.add_pull_request(head="feature", sha=pr_repo.head())
    ctx, buf = pr_repo.context(pr_repo.event_env(github_fake, number), dry_run=True)
    seed_candidate(ctx, GOOD)
    assert run_pull_request(ctx) == 0
    text = buf.getvalue()
    assert f"--- the comment on #{number} ---" in text
    assert "## leptonci gate: `digits` passed ✅" in text and "```mermaid" in text
    assert github_fake.requests == []
