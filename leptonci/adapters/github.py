"""The GitHub adapter: sticky PR comments, commit statuses, check runs, pull requests,
auto-merge, merges, deployments.

Built on github3.py (imported here only); the calls github3.py lacks or guards for App
authentication (check runs, merges read as "not yet", the GraphQL auto-merge mutation)
go through its session. Any token works: the default ``GITHUB_TOKEN``, a GitHub App
installation token, a personal access token. Settings come from the variables GitHub
Actions sets: ``GITHUB_TOKEN`` (registered as a secret at once), ``GITHUB_API_URL``
(github.com or a GitHub Enterprise Server's ``https://HOST/api/v3``) and
``GITHUB_REPOSITORY``. Every operation is a small, idempotent unit (find, then create
or update) that is retried whole on 5xx, connection failures and rate limits, with
bounded backoff and the deadlines (``core.deadlines``: every request is cut after
``connect + read`` seconds, the tries of one operation after ``give_up``); 401/403 become a ``GitHubError`` naming the permission the workflow
needs, never the token.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from leptonci.adapters.github_errors import rate_limit_wait, refused
from leptonci.adapters.http_deadline import deadline_session
from leptonci.adapters.retrying import retry_call
from leptonci.core.backoff import Backoff
from leptonci.core.deadlines import Deadlines
from leptonci.core.errors import ConfigError, GitHubError, GitHubUnavailable
from leptonci.core.redact import excerpt, register_credentials, register_secret

if TYPE_CHECKING:  # github3.py ships no types: these name what the values are
    from github3.repos.repo import Repository

DEFAULT_API_URL = "https://api.github.com"
T = TypeVar("T")

# What each operation needs in the workflow's `permissions:` block.
NEEDS_COMMENT = "pull-requests: write"
NEEDS_STATUS = "statuses: write"
NEEDS_PULL = "pull-requests: write and contents: write"
NEEDS_DEPLOYMENT = "deployments: write"
NEEDS_READ = "contents: read"
NEEDS_CHECKS = "checks: write"
NEEDS_MERGE = "contents: write and pull-requests: write"
NEEDS_PULL_READ = "pull-requests: read"
MERGE_METHODS = ("merge", "squash", "rebase")


@dataclass(frozen=True)
class GitHubSettings:
    repository: str  # "owner/name"
    token: str = field(repr=False)
    api_url: str = DEFAULT_API_URL
    server_url: str = "https://github.com"

    @property
    def owner(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repository.split("/", 1)[1]


def settings_from_env(env: Mapping[str, str]) -> GitHubSettings | None:
    """GitHub settings from the environment, or None when not running against GitHub."""
    token = env.get("GITHUB_TOKEN") or env.get("GH_TOKEN") or ""
    repository = env.get("GITHUB_REPOSITORY", "")
    register_credentials("x-access-token", token)  # git over HTTPS sends it as this pair
    if not token or not repository:
        return None
    if repository.count("/") != 1 or not all(repository.split("/")):
        raise ConfigError(
            f"GITHUB_REPOSITORY is {repository!r}, expected OWNER/NAME",
            hint="set it to the repository the workflow runs in",
        )
    return GitHubSettings(
        repository=repository,
        token=token,
        api_url=(env.get("GITHUB_API_URL") or DEFAULT_API_URL).rstrip("/"),
        server_url=(env.get("GITHUB_SERVER_URL") or "https://github.com").rstrip("/"),
    )


@dataclass(frozen=True)
class CommentResult:
    id: int
    url: str
    created: bool


@dataclass(frozen=True)
class PullResult:
    number: int
    url: str
    created: bool
    node_id: str = ""  # the GraphQL id auto-merge needs
    head_sha: str = ""


@dataclass(frozen=True)
class OpenPull:
    """An open pull request, as listed."""

    number: int
    url: str
    head: str  # the head branch's name
    head_sha: str = ""


@dataclass(frozen=True)
class AutoMergeResult:
    state: str  # "enabled": merges once its checks and reviews allow; "merged": merged now
    detail: str = ""


class GitHub:
    """One repository on one GitHub instance, reached with one token."""

    def __init__(
        self,
        settings: GitHubSettings,
        *,
        attempts: int = 5,
        max_wait: float = 60.0,
        deadlines: Deadlines | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import github3

        register_secret(settings.token)
        self.settings = settings
        self.attempts = max(1, attempts)
        self.max_wait = max_wait
        self.deadlines = deadlines or Deadlines()
        self.sleep = sleep
        self._gh = github3.GitHub(token=settings.token)
        # One base URL for github.com and GitHub Enterprise alike (GHES: HOST/api/v3).
        self._gh.session.base_url = settings.api_url
        self._gh.session.default_read_timeout = self.deadlines.read
        self._gh.session.default_connect_timeout = self.deadlines.connect
        deadline_session(self.deadlines, self._gh.session)  # an answer that trickles is cut
        self._repo: Repository | None = None

    # -- operations ---------------------------------------------------------------
    def upsert_comment(self, *, number: int, marker: str, body: str) -> CommentResult:
        """Update the comment on issue/PR number that carries marker, or create it."""

        def op() -> CommentResult:
            issue = self._repository().issue(number)
            for comment in issue.comments():
                if marker in (comment.body or ""):
                    if comment.body != body:
                        comment.edit(body)
                    return CommentResult(comment.id, comment.html_url, created=False)
            made = issue.create_comment(body)
            return CommentResult(made.id, made.html_url, created=True)

        return self._call(f"comment on #{number}", NEEDS_COMMENT, op)

    def set_status(
        self,
        *,
        sha: str,
        state: str,
        context: str,
        description: str,
        target_url: str | None = None,
    ) -> None:
        if state not in ("error", "failure", "pending", "success"):
            raise ValueError(f"bad commit status state {state!r}")

        def op() -> None:
            self._repository().create_status(
                sha, state, target_url=target_url, description=description[:140], context=context
            )

        self._call(f"status {context} on {sha[:12]}", NEEDS_STATUS, op)

    def open_or_update_pull(
        self, *, head: str, base: str, title: str, body: str, labels: Sequence[str] = ()
    ) -> PullResult:
        """Open a PR head -> base, or update the open one for that head branch."""

        def op() -> PullResult:
            from github3 import exceptions as gh_exc

            repo = self._repository()

            def open_one() -> Any:
                pulls = repo.pull_requests(state="open", head=f"{self.settings.owner}:{head}")
                return next(iter(pulls), None)

            found = open_one()
            if found is None:
                try:
                    pull = repo.create_pull(title, base, head, body)
                    created = True
                except gh_exc.UnprocessableEntity:
                    # "A pull request already exists": a run racing this one opened it
                    # since the look-up; update that one
                    found = open_one()
                    if found is None:
                        raise
            if found is not None:
                pull = found
                if (pull.title, pull.body or "", pull.base.ref) != (title, body, base):
                    pull.update(title=title, body=body, base=base)
                created = False
            if labels:
                pull.issue().add_labels(*labels)
            data = pull.as_dict()
            return PullResult(
                pull.number,
                pull.html_url,
                created,
                node_id=str(data.get("node_id") or ""),
                head_sha=str((data.get("head") or {}).get("sha") or ""),
            )

        return self._call(f"pull request {head} -> {base}", NEEDS_PULL, op)

    def open_pulls(self, *, base: str, head_prefix: str) -> list[OpenPull]:
        """The open pull requests into base whose head branch starts with head_prefix."""

        def op() -> list[OpenPull]:
            pulls = self._repository().pull_requests(state="open", base=base)
            return sorted(
                (
                    OpenPull(p.number, p.html_url, p.head.ref, p.head.sha or "")
                    for p in pulls
                    if p.head.ref.startswith(head_prefix)
                ),
                key=lambda p: p.number,
            )

        return self._call(f"open pull requests into {base}", NEEDS_PULL_READ, op)

    def close_pull(self, *, number: int, marker: str, comment: str) -> None:
        """Say why on pull request number (one comment, marked), then close it."""
        self.upsert_comment(number=number, marker=marker, body=comment)

        def op() -> None:
            pull = self._repository().pull_request(number)
            if pull is not None and pull.state == "open":
                pull.close()

        self._call(f"closing pull request #{number}", NEEDS_PULL, op)

    def create_check_run(
        self,
        *,
        name: str,
        head_sha: str,
        conclusion: str,
        title: str,
        summary: str,
        text: str = "",
        details_url: str | None = None,
    ) -> None:
        """A completed check run on head_sha carrying a Markdown report."""
        payload: dict[str, Any] = {
            "name": name,
            "head_sha": head_sha,
            "status": "completed",
            "conclusion": conclusion,
            "output": {"title": title[:1000], "summary": summary[:65535], "text": text[:65535]},
        }
        if details_url:
            payload["details_url"] = details_url

        def op() -> None:
            self._send("POST", f"{self._repo_url}/check-runs", payload)

        self._call(f"check run {name} on {head_sha[:12]}", NEEDS_CHECKS, op)

    def enable_auto_merge(
        self, *, pull: PullResult, method: str, headline: str, body: str
    ) -> AutoMergeResult:
        """Mark pull for auto-merge (GraphQL ``enablePullRequestAutoMerge``).

        GitHub refuses the mutation for a pull request that can merge at once ("clean
        status") and on a branch without protection rules: then it is merged now, with
        the same method and message.
        """
        if method not in MERGE_METHODS:
            raise ValueError(f"bad merge method {method!r}")
        query = (
            "mutation($pullRequestId: ID!, $mergeMethod: PullRequestMergeMethod!, "
            "$commitHeadline: String, $commitBody: String) {\n"
            "  enablePullRequestAutoMerge(input: {pullRequestId: $pullRequestId, "
            "mergeMethod: $mergeMethod, commitHeadline: $commitHeadline, "
            "commitBody: $commitBody}) {\n"
            "    pullRequest { number autoMergeRequest { enabledAt mergeMethod } }\n  }\n}"
        )
        variables = {
            "pullRequestId": pull.node_id,
            "mergeMethod": method.upper(),
            "commitHeadline": headline,
            "commitBody": body,
        }
        what = f"auto-merge of pull request #{pull.number}"

        def op() -> str:
            answer = self._send("POST", self._graphql_url, {"query": query, "variables": variables})
            errors = answer.get("errors") if isinstance(answer, dict) else None
            if not errors:
                return ""
            if not isinstance(errors, list):  # not GraphQL's shape: say what came
                return excerpt(str(errors))
            return "; ".join(
                str(e.get("message", e)) if isinstance(e, dict) else str(e) for e in errors
            )

        problem = self._call(what, NEEDS_MERGE, op)
        if not problem:
            return AutoMergeResult("enabled")
        low = problem.lower()
        if "clean status" in low or "protected branch rules not configured" in low:
            merged = self.merge_pull(pull=pull, method=method, title=headline, message=body)
            if merged:
                return AutoMergeResult("merged")
            return AutoMergeResult("enabled", "GitHub would not merge it yet")
        if "not allowed" in low:
            raise GitHubError(
                f"GitHub refused {what} in {self.repo_name}: {problem}",
                hint="turn on Settings → General → Allow auto-merge, or let leptonci push "
                "with a GitHub App token the branch's ruleset lets bypass (git.land: push)",
            )
        raise GitHubError(f"GitHub refused {what} in {self.repo_name}: {problem}")

    def merge_pull(self, *, pull: PullResult, method: str, title: str, message: str) -> bool:
        """Merge pull now; False when GitHub says it cannot merge yet (405)."""
        payload: dict[str, Any] = {
            "merge_method": method,
            "commit_title": title,
            "commit_message": message,
        }
        if pull.head_sha:
            payload["sha"] = pull.head_sha

        def op() -> bool:
            url = f"{self._repo_url}/pulls/{pull.number}/merge"
            answer = self._send("PUT", url, payload, soft=(405,))
            return bool(isinstance(answer, dict) and answer.get("merged"))

        return self._call(f"merge of pull request #{pull.number}", NEEDS_MERGE, op)

    def create_deployment(
        self, *, ref: str, environment: str, description: str, payload: Mapping[str, Any]
    ) -> int:
        def op() -> int:
            deployment = self._repository().create_deployment(
                ref,
                required_contexts=[],
                payload=dict(payload),
                auto_merge=False,
                description=description[:140],
                environment=environment,
            )
            if deployment is None:
                raise GitHubError(f"GitHub created no deployment of {ref} to {environment}")
            return int(deployment.id)

        return self._call(f"deployment to {environment}", NEEDS_DEPLOYMENT, op)

    def create_deployment_status(
        self, *, deployment_id: int, state: str, description: str, log_url: str | None = None
    ) -> None:
        def op() -> None:
            deployment = self._repository().deployment(deployment_id)
            if deployment is None:
                raise GitHubError(f"deployment {deployment_id} not found in {self.repo_name}")
            deployment.create_status(state, target_url=log_url, description=description[:140])

        self._call(f"deployment {deployment_id} status {state}", NEEDS_DEPLOYMENT, op)

    # -- plumbing -----------------------------------------------------------------
    @property
    def repo_name(self) -> str:
        return self.settings.repository

    @property
    def _repo_url(self) -> str:
        return f"{self.settings.api_url}/repos/{self.settings.repository}"

    @property
    def _graphql_url(self) -> str:
        """github.com: API_URL/graphql; GitHub Enterprise Server: https://HOST/api/graphql."""
        api = self.settings.api_url
        if api.endswith("/api/v3"):
            return api.removesuffix("/v3") + "/graphql"
        return f"{api}/graphql"

    def _send(
        self,
        method: str,
        url: str,
        payload: Mapping[str, Any],
        *,
        soft: tuple[int, ...] = (),
    ) -> Any:
        """One request through github3.py's session; an error status raises as github3
        would (``_once`` maps it), a ``soft`` one returns None."""
        import requests
        from github3 import exceptions as gh_exc

        try:
            response = self._gh.session.request(method, url, json=dict(payload))
        except requests.exceptions.RequestException as exc:
            raise gh_exc.TransportError(exc) from None
        if response.status_code in soft:
            return None
        if response.status_code >= 400:
            raise gh_exc.error_for(response)
        try:
            return response.json()
        except ValueError:
            return None

    def _repository(self) -> Repository:
        if self._repo is None:
            repo = self._gh.repository(self.settings.owner, self.settings.name)
            if repo is None:
                raise GitHubError(f"repository {self.repo_name} not found")
            self._repo = repo
        return self._repo

    def _call(self, what: str, needs: str, op: Callable[[], T]) -> T:
        """Run op; retry it whole on transient failures; map errors to GitHubError."""

        def gave_up(last: Exception, tries: int) -> GitHubError:
            return GitHubError(
                f"GitHub kept failing for {what} in {self.repo_name} after {tries} "
                f"attempts: {last}",
                hint="retry the job later; see https://www.githubstatus.com",
            )

        return retry_call(
            lambda: self._once(what, needs, op),
            what=f"GitHub {what} in {self.repo_name}",
            schedule=Backoff(attempts=self.attempts, base_delay=0.5, max_delay=30.0),
            give_up=gave_up,
            max_wait=self.max_wait,
            deadline=self.deadlines.give_up,
            sleep=self.sleep,
        )

    def _once(self, what: str, needs: str, op: Callable[[], T]) -> T:
        """Run op once; a failure becomes a GitHubError, retryable (GitHubUnavailable)
        for 5xx, rate limits and transport errors."""
        from github3 import exceptions as gh_exc

        try:
            return op()
        except gh_exc.GitHubError as exc:
            code = exc.code or 0
            message = excerpt(str(getattr(exc, "msg", "") or exc))
            if code == 0:  # github3's IncompleteResponse: no status, missing fields
                raise GitHubError(
                    f"GitHub's answer to {what} in {self.repo_name} was incomplete: {message}",
                    hint="check that GITHUB_API_URL points at a GitHub REST API",
                ) from None
            wait = rate_limit_wait(exc.response, code, message)
            if wait is None and code in (401, 403):
                raise refused(self.repo_name, what, needs, code, message) from None
            if wait is None and not (code >= 500 or code == 429):
                raise GitHubError(
                    f"GitHub answered {code} to {what} in {self.repo_name}: {message}",
                    hint="check the repository, branch or number the workflow passes",
                ) from None
            # the message is the detail the give-up line ends with: "503 Service Unavailable"
            raise GitHubUnavailable(f"{code} {message}", retry_after=wait) from None
        except gh_exc.TransportError as exc:
            raise GitHubUnavailable(excerpt(f"{type(exc).__name__}: {exc}")) from None
