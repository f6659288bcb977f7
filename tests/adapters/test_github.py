"""The GitHub adapter against the loopback fake, with github3.py doing real HTTP."""

from __future__ import annotations

import pytest

from leptonci.adapters.github import GitHub, PullResult, settings_from_env
from leptonci.core.errors import ConfigError, ExitCode, GitHubError
from leptonci.core.redact import redact
from tests.github_fake import APP_TOKEN, TOKEN, FakeGitHub
from tests.github_fake_routes import ROUTES

MARKER = "<!-- leptonci:gate:digits:model-gate -->"


def client(fake: FakeGitHub, sleeps: list[float] | None = None, **env: str) -> GitHub:
    settings = settings_from_env(fake.env(**env))
    assert settings is not None
    record = sleeps if sleeps is not None else []
    return GitHub(settings, sleep=record.append, attempts=4, max_wait=30)


def test_settings_need_token_and_repository() -> None:
    assert settings_from_env({}) is None
    assert settings_from_env({"GITHUB_TOKEN": "ghs_x" * 5}) is None
    with pytest.raises(ConfigError, match="OWNER/NAME"):
        settings_from_env({"GITHUB_TOKEN": "t0ken-abc", "GITHUB_REPOSITORY": "no-slash"})


def test_reading_the_token_registers_it_as_a_secret() -> None:
    token = "s3cret-token-value-not-github-shaped"
    settings_from_env({"GITHUB_TOKEN": token, "GITHUB_REPOSITORY": "o/r"})
    assert token not in redact(f"header was token {token}!")


def test_sticky_comment_is_created_once_then_updated(github_fake: FakeGitHub) -> None:
    number = github_fake.add_pull_request(head="feature")
    gh = client(github_fake)
    first = gh.upsert_comment(number=number, marker=MARKER, body=f"{MARKER}\nfirst")
    second = gh.upsert_comment(number=number, marker=MARKER, body=f"{MARKER}\nsecond")
    assert first.created and not second.created and first.id == second.id
    [comment] = github_fake.comments_on(number)
    assert comment["body"] == f"{MARKER}\nsecond"
    other = gh.upsert_comment(number=number, marker=MARKER.replace("digits", "iris"), body="x")
    assert other.created and len(github_fake.comments_on(number)) == 2


def test_sticky_comment_found_past_the_first_page(github_fake: FakeGitHub) -> None:
    number = github_fake.add_pull_request(head="feature")
    gh = client(github_fake)
    for i in range(105):  # github3 asks for 100 a page
        github_fake.add_comment(number, f"review comment {i}")
    gh.upsert_comment(number=number, marker=MARKER, body=f"{MARKER}\nv1")
    gh.upsert_comment(number=number, marker=MARKER, body=f"{MARKER}\nv2")
    ours = [c for c in github_fake.comments_on(number) if MARKER in c["body"]]
    assert [c["body"] for c in ours] == [f"{MARKER}\nv2"]
    assert any("page=2" in path for _, path in github_fake.requests)


def test_unchanged_comment_is_not_edited(github_fake: FakeGitHub) -> None:
    number = github_fake.add_pull_request(head="feature")
    gh = client(github_fake)
    gh.upsert_comment(number=number, marker=MARKER, body=f"{MARKER}\nsame")
    gh.upsert_comment(number=number, marker=MARKER, body=f"{MARKER}\nsame")
    assert not [r for r in github_fake.requests if r[0] == "PATCH"]


def test_commit_status_has_the_gate_context(github_fake: FakeGitHub) -> None:
    gh = client(github_fake)
    sha = "d" * 40
    gh.set_status(sha=sha, state="failure", context="leptonci/gate/digits", description="x" * 300)
    [status] = github_fake.statuses[sha]
    assert (status["state"], status["context"]) == ("failure", "leptonci/gate/digits")
    assert len(status["description"]) == 140


def test_a_pull_request_a_racing_run_opened_meanwhile_is_updated(
    github_fake: FakeGitHub,
) -> None:
    head = "leptonci/promote/prod/digits-1"

    def racing_run_opens_it(method: str, path: str) -> None:
        if (method, path) == ("POST", "/repos/octo-org/models/pulls"):
            github_fake.before_request.clear()  # between our look-up and our create
            payload = {"head": head, "base": "main", "title": "theirs", "body": ""}
            github_fake._new_pull(payload, sha="b" * 40, by="github-actions[bot]")

    github_fake.before_request.append(racing_run_opens_it)
    result = client(github_fake).open_or_update_pull(
        head=head, base="main", title="Promote digits-1 to prod", body="ours"
    )
    [pull] = github_fake.open_pulls()  # GitHub's 422 "already exists": that one, updated
    assert (result.created, result.number) == (False, pull["number"])
    assert (pull["title"], pull["body"]) == ("Promote digits-1 to prod", "ours")


def test_pull_request_is_opened_once_then_updated(github_fake: FakeGitHub) -> None:
    gh = client(github_fake)
    opened = gh.open_or_update_pull(
        head="leptonci/promote-prod",
        base="main",
        title="Promote r1",
        body="b1",
        labels=["leptonci:env/prod"],
    )
    updated = gh.open_or_update_pull(
        head="leptonci/promote-prod",
        base="main",
        title="Promote r2",
        body="b2",
        labels=["leptonci:env/prod"],
    )
    assert opened.created and not updated.created and opened.number == updated.number
    [pull] = github_fake.open_pulls()
    assert (pull["title"], pull["body"]) == ("Promote r2", "b2")
    assert [label["name"] for label in pull["labels"]] == ["leptonci:env/prod"]


def test_deployment_and_its_statuses(github_fake: FakeGitHub) -> None:
    gh = client(github_fake)
    did = gh.create_deployment(
        ref="main",
        environment="prod",
        description="digits-abc to prod",
        payload={"release": "digits-abc"},
    )
    gh.create_deployment_status(deployment_id=did, state="in_progress", description="rolling")
    gh.create_deployment_status(
        deployment_id=did, state="success", description="verified", log_url="https://x/run/1"
    )
    assert github_fake.deployments[did]["environment"] == "prod"
    assert github_fake.deployments[did]["payload"] == {"release": "digits-abc"}
    states = [s["state"] for s in github_fake.deployment_statuses[did]]
    assert states == ["success", "in_progress"]  # newest first, as GitHub lists them


def test_server_errors_are_retried_with_bounded_backoff(github_fake: FakeGitHub) -> None:
    sleeps: list[float] = []
    gh = client(github_fake, sleeps)
    github_fake.fail_next(502, times=2)
    gh.set_status(sha="f" * 40, state="success", context="c", description="d")
    assert len(github_fake.statuses["f" * 40]) == 1
    assert len(sleeps) == 2 and all(0 < s <= 30 for s in sleeps)


def test_persistent_server_errors_give_up_with_exit_3(github_fake: FakeGitHub) -> None:
    sleeps: list[float] = []
    gh = client(github_fake, sleeps)
    github_fake.fail_next(503, times=10, message="Service Unavailable")
    with pytest.raises(GitHubError, match="after 4 attempts: 503") as info:
        gh.set_status(sha="f" * 40, state="success", context="c", description="d")
    assert info.value.exit_code == ExitCode.OUTSIDE
    assert len(sleeps) == 3


@pytest.mark.parametrize(
    ("status", "headers", "message", "waited"),
    [
        (403, {"Retry-After": "7"}, "You have exceeded a secondary rate limit", 7.0),
        (429, {"Retry-After": "3"}, "Too Many Requests", 3.0),
        (403, {}, "You have exceeded a secondary rate limit. Please wait", 30.0),
        (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "0"}, "API rate limit", 1.0),
    ],
)
def test_rate_limits_wait_then_retry(
    github_fake: FakeGitHub, status: int, headers: dict[str, str], message: str, waited: float
) -> None:
    sleeps: list[float] = []
    gh = client(github_fake, sleeps)
    github_fake.fail_next(status, headers=headers, message=message)
    gh.set_status(sha="1" * 40, state="pending", context="c", description="d")
    assert sleeps == [waited]
    assert len(github_fake.statuses["1" * 40]) == 1


def test_a_bad_token_is_exit_3_and_never_shown(github_fake: FakeGitHub) -> None:
    bad = "ghs_WrongTokenWrongTokenWrongToken1234"
    gh = client(github_fake, GITHUB_TOKEN=bad)
    with pytest.raises(GitHubError) as info:
        gh.set_status(sha="2" * 40, state="success", context="c", description="d")
    text = str(info.value)
    assert "401" in text and "GITHUB_TOKEN" in text and "octo-org/models" in text
    assert bad not in text and TOKEN not in text
    assert info.value.exit_code == ExitCode.OUTSIDE


@pytest.mark.parametrize(
    ("denied", "needs"),
    [("statuses", "statuses: write"), ("pull-requests", "pull-requests: write")],
)
def test_missing_permission_is_named(github_fake: FakeGitHub, denied: str, needs: str) -> None:
    github_fake.deny.add(denied)
    number = github_fake.add_pull_request(head="feature")
    gh = client(github_fake)
    with pytest.raises(GitHubError) as info:
        if denied == "statuses":
            gh.set_status(sha="3" * 40, state="success", context="c", description="d")
        else:
            gh.upsert_comment(number=number, marker=MARKER, body=MARKER)
    text = str(info.value)
    assert f"GitHub refused the token for octo-org/models: needs {needs}" in text
    assert TOKEN not in text and info.value.exit_code == ExitCode.OUTSIDE


def test_not_found_is_not_retried(github_fake: FakeGitHub) -> None:
    sleeps: list[float] = []
    gh = client(github_fake, sleeps)
    with pytest.raises(GitHubError, match="404"):
        gh.upsert_comment(number=999, marker=MARKER, body=MARKER)
    assert sleeps == []


def test_enterprise_server_api_prefix() -> None:
    fake = FakeGitHub(prefix="/api/v3").start()
    try:
        number = fake.add_pull_request(head="feature")
        client(fake).upsert_comment(number=number, marker=MARKER, body=MARKER)
        assert fake.api_url.endswith("/api/v3") and len(fake.comments_on(number)) == 1
    finally:
        fake.stop()
    assert not fake.schema_errors


def test_every_route_is_served_and_validated(github_fake: FakeGitHub) -> None:
    """Walk every endpoint the fake serves so each response meets GitHub's schema."""
    import requests

    gh = client(github_fake)
    number = github_fake.add_pull_request(head="feature")
    gh.upsert_comment(number=number, marker=MARKER, body=MARKER)
    gh.upsert_comment(number=number, marker=MARKER, body=MARKER + " v2")
    gh.set_status(sha="4" * 40, state="success", context="c", description="d")
    gh.open_or_update_pull(head="promo", base="main", title="t", body="b", labels=["l"])
    gh.open_or_update_pull(head="promo", base="main", title="t2", body="b", labels=["l"])
    did = gh.create_deployment(ref="main", environment="dev", description="d", payload={})
    gh.create_deployment_status(deployment_id=did, state="success", description="d")
    gh.create_check_run(
        name="leptonci/report/digits",
        head_sha="4" * 40,
        conclusion="success",
        title="t",
        summary="s",
    )
    pull = gh.open_or_update_pull(head="land", base="main", title="t", body="b")
    github_fake.approve(pull.number, by="octo-reviewer")
    assert gh.enable_auto_merge(pull=pull, method="merge", headline="h", body="").state == "merged"
    session = requests.Session()
    session.headers["Authorization"] = f"token {TOKEN}"
    base = f"{github_fake.api_url}/repos/octo-org/models"
    for path in (
        f"/commits/{'4' * 40}/statuses",
        f"/pulls/{number}",
        "/deployments",
        f"/deployments/{did}/statuses",
    ):
        assert session.get(base + path, timeout=10).status_code == 200
    served = {(m, t) for m, t in github_fake.validated}
    assert served == {(r.method, r.template) for r in ROUTES}


def test_the_schema_check_is_not_vacuous(github_fake: FakeGitHub) -> None:
    template = "/repos/{owner}/{repo}/issues/{issue_number}/comments"
    problems = github_fake.spec.check(template, "POST", 201, {"id": "not-a-number"})
    assert any("required property" in p for p in problems)
    assert any("'not-a-number' is not of type 'integer'" in p for p in problems)
    assert github_fake.spec.check(template, "POST", 403, {"message": "Forbidden"}) == []


# -- auto-merge and merges --------------------------------------------------------------


def opened(fake: FakeGitHub, head: str = "leptonci/land/dev/x") -> tuple[GitHub, PullResult]:
    gh = client(fake)
    return gh, gh.open_or_update_pull(head=head, base="main", title="land it", body="b")


def test_auto_merge_waits_for_the_required_check_then_merges(github_fake: FakeGitHub) -> None:
    github_fake.protect(contexts=("leptonci/gate/digits",))
    gh, pull = opened(github_fake)
    assert pull.node_id and pull.head_sha
    result = gh.enable_auto_merge(pull=pull, method="squash", headline="land it", body="T: v")
    assert result.state == "enabled" and github_fake.merges == []
    [request] = github_fake.graphql_requests
    assert "enablePullRequestAutoMerge" in request["query"]
    assert request["variables"] == {
        "pullRequestId": pull.node_id,
        "mergeMethod": "SQUASH",
        "commitHeadline": "land it",
        "commitBody": "T: v",
    }
    gh.set_status(
        sha=pull.head_sha, state="success", context="leptonci/gate/digits", description="d"
    )
    assert github_fake.merges == [(pull.number, "squash")]
    assert github_fake.pulls[pull.number]["merged"] is True


def test_a_pull_request_nothing_holds_is_merged_at_once(github_fake: FakeGitHub) -> None:
    """GitHub refuses auto-merge on a "clean" pull request (or an unprotected branch)."""
    gh, pull = opened(github_fake)
    assert gh.enable_auto_merge(pull=pull, method="merge", headline="h", body="").state == "merged"
    github_fake.protect(contexts=())
    gh, again = opened(github_fake, head="leptonci/land/dev/y")
    assert gh.enable_auto_merge(pull=again, method="merge", headline="h", body="").state == "merged"
    assert [n for n, _ in github_fake.merges] == [pull.number, again.number]


def test_a_required_review_holds_the_merge_until_someone_else_approves(
    github_fake: FakeGitHub,
) -> None:
    github_fake.protect(reviews=1)
    gh, pull = opened(github_fake)
    assert gh.merge_pull(pull=pull, method="merge", title="t", message="") is False
    assert gh.enable_auto_merge(pull=pull, method="merge", headline="h", body="").state == "enabled"
    github_fake.approve(pull.number, by="github-actions[bot]")  # its own: does not count
    assert github_fake.merges == []
    github_fake.approve(pull.number, by="octo-reviewer")
    assert github_fake.merges == [(pull.number, "merge")]


def test_auto_merge_turned_off_in_the_repository_says_where_to_turn_it_on(
    github_fake: FakeGitHub,
) -> None:
    github_fake.protect(reviews=1)
    github_fake.auto_merge_allowed = False
    gh, pull = opened(github_fake)
    with pytest.raises(GitHubError, match="Allow auto-merge") as failed:
        gh.enable_auto_merge(pull=pull, method="merge", headline="h", body="")
    assert failed.value.exit_code == ExitCode.OUTSIDE


def test_an_app_token_is_a_token_like_any_other(github_fake: FakeGitHub) -> None:
    gh = client(github_fake, GITHUB_TOKEN=APP_TOKEN)
    pull = gh.open_or_update_pull(head="b", base="main", title="t", body="b")
    assert github_fake.pulls[pull.number]["user"]["login"] == "leptonci-app[bot]"
    assert APP_TOKEN not in redact(f"token {APP_TOKEN}")


def test_graphql_lives_beside_the_enterprise_rest_root() -> None:
    settings = settings_from_env(
        {
            "GITHUB_TOKEN": "t0ken-abcd",
            "GITHUB_REPOSITORY": "o/r",
            "GITHUB_API_URL": "https://ghe.example/api/v3",
        }
    )
    assert settings is not None
    assert GitHub(settings)._graphql_url == "https://ghe.example/api/graphql"
