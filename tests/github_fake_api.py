"""The endpoints of the fake GitHub: routes, handlers and GitHub-shaped objects.

``GitHubEndpoints`` is the half of ``tests.github_fake.FakeGitHub`` that answers
requests; objects start from the examples in GitHub's OpenAPI description and get
this fake's state and URLs patched in.
"""

from __future__ import annotations

import copy
import html
import itertools
import json
import re
from dataclasses import dataclass, field
from typing import Any

from tests.openapi import Spec

NOW = "2026-11-30T10:00:00Z"


@dataclass
class Reply:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    template: str  # the OpenAPI path
    permission: str  # the permission a GITHUB_TOKEN needs for it
    handler: str


def _route(method: str, template: str, permission: str, handler: str) -> Route:
    regex = re.sub(r"\{[a-z_]+\}", r"([^/]+)", template)
    return Route(method, re.compile(f"^{regex}$"), template, permission, handler)


ROUTES = (
    _route("GET", "/repos/{owner}/{repo}", "metadata", "get_repo"),
    _route("GET", "/repos/{owner}/{repo}/issues/{issue_number}", "issues", "get_issue"),
    _route(
        "GET", "/repos/{owner}/{repo}/issues/{issue_number}/comments", "issues", "list_comments"
    ),
    _route(
        "POST",
        "/repos/{owner}/{repo}/issues/{issue_number}/comments",
        "pull-requests",
        "create_comment",
    ),
    _route(
        "PATCH",
        "/repos/{owner}/{repo}/issues/comments/{comment_id}",
        "pull-requests",
        "update_comment",
    ),
    _route(
        "POST", "/repos/{owner}/{repo}/issues/{issue_number}/labels", "pull-requests", "add_labels"
    ),
    _route("POST", "/repos/{owner}/{repo}/statuses/{sha}", "statuses", "create_status"),
    _route("GET", "/repos/{owner}/{repo}/commits/{ref}/statuses", "statuses", "list_statuses"),
    _route("GET", "/repos/{owner}/{repo}/pulls", "pull-requests", "list_pulls"),
    _route("POST", "/repos/{owner}/{repo}/pulls", "pull-requests", "create_pull"),
    _route("GET", "/repos/{owner}/{repo}/pulls/{pull_number}", "pull-requests", "get_pull"),
    _route("PATCH", "/repos/{owner}/{repo}/pulls/{pull_number}", "pull-requests", "update_pull"),
    _route("PUT", "/repos/{owner}/{repo}/pulls/{pull_number}/merge", "contents", "merge_pull"),
    _route(
        "POST",
        "/repos/{owner}/{repo}/pulls/{pull_number}/reviews",
        "pull-requests",
        "create_review",
    ),
    _route("POST", "/repos/{owner}/{repo}/check-runs", "checks", "create_check_run"),
    _route("GET", "/repos/{owner}/{repo}/deployments", "deployments", "list_deployments"),
    _route("POST", "/repos/{owner}/{repo}/deployments", "deployments", "create_deployment"),
    _route(
        "GET", "/repos/{owner}/{repo}/deployments/{deployment_id}", "deployments", "get_deployment"
    ),
    _route(
        "GET",
        "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
        "deployments",
        "list_deployment_statuses",
    ),
    _route(
        "POST",
        "/repos/{owner}/{repo}/deployments/{deployment_id}/statuses",
        "deployments",
        "create_deployment_status",
    ),
)


class GitHubEndpoints:
    """Request handlers over the state FakeGitHub holds."""

    owner: str
    repo: str
    spec: Spec
    issues: dict[int, dict[str, Any]]
    pulls: dict[int, dict[str, Any]]
    comments: dict[int, dict[str, Any]]
    statuses: dict[str, list[dict[str, Any]]]
    deployments: dict[int, dict[str, Any]]
    deployment_statuses: dict[int, list[dict[str, Any]]]
    caller: str
    _ids: itertools.count[int]
    _numbers: itertools.count[int]

    @property
    def api_url(self) -> str:
        raise NotImplementedError

    @property
    def server_url(self) -> str:
        raise NotImplementedError

    remote: Any  # tests.github_fake_rules.RemoteRepo | None
    # provided by FakeGitHub and tests.github_fake_merge.MergeEndpoints
    _head_sha: Any
    _settle_auto_merges: Any

    def _refresh(self, pull: dict[str, Any]) -> dict[str, Any]:
        """An open pull request's head moves with its branch, as on GitHub."""
        if self.remote is not None and pull["state"] == "open":
            pull["head"]["sha"] = self._head_sha(pull["head"]["ref"])
        return pull

    def comments_on(self, number: int) -> list[dict[str, Any]]:
        return [c for c in self.comments.values() if c["_issue"] == number]

    def open_pulls(self) -> list[dict[str, Any]]:
        return [p for p in self.pulls.values() if p["state"] == "open"]

    # -- objects ----------------------------------------------------------------------
    def _obj(self, example: str, **fields: Any) -> dict[str, Any]:
        data = self._rewrite(self.spec.example(example))
        data.update(fields)
        return data

    def _rewrite(self, data: Any) -> Any:
        """The example with its URLs moved to this fake and this repository."""
        text = json.dumps(data)
        text = re.sub(
            r"https://api\.github\.com/repos/[\w.-]+/[\w.-]+",
            f"{self.api_url}/repos/{self.owner}/{self.repo}",
            text,
        )
        text = text.replace("https://api.github.com", self.api_url)
        text = re.sub(
            r"https://github\.com/(octocat/[\w.-]+)",
            f"{self.server_url}/{self.owner}/{self.repo}",
            text,
        )
        return json.loads(text)

    @property
    def _base(self) -> str:
        return f"{self.api_url}/repos/{self.owner}/{self.repo}"

    def _user(self, login: str) -> dict[str, Any]:
        user = self._rewrite(self.spec.example("pull-request")["user"])
        user.update(login=login, type="Bot" if login.endswith("[bot]") else "User")
        return dict(user)

    def _new_pull(self, payload: dict[str, Any], *, sha: str, by: str) -> dict[str, Any]:
        number = next(self._numbers)
        base = f"{self._base}"
        pull = self._obj(
            "pull-request",
            id=next(self._ids),
            node_id=f"PR_kwFake{number:04d}",
            user=self._user(by),
            auto_merge=None,
            number=number,
            state="open",
            title=payload["title"],
            body=payload.get("body") or None,
            labels=[],
            url=f"{base}/pulls/{number}",
            issue_url=f"{base}/issues/{number}",
            html_url=f"{self.server_url}/{self.owner}/{self.repo}/pull/{number}",
            comments_url=f"{base}/issues/{number}/comments",
            created_at=NOW,
            updated_at=NOW,
            closed_at=None,
            merged_at=None,
            merged=False,
            merged_by=None,
            requested_teams=[],
        )
        pull["head"].update(ref=payload["head"], sha=sha, label=f"{self.owner}:{payload['head']}")
        pull["base"].update(ref=payload["base"], label=f"{self.owner}:{payload['base']}")
        self.pulls[number] = pull
        self.issues[number] = self._obj(
            "issue",
            id=next(self._ids),
            number=number,
            state="open",
            title=pull["title"],
            body=pull["body"],
            labels=[],
            url=f"{base}/issues/{number}",
            comments_url=f"{base}/issues/{number}/comments",
            comments=0,
            html_url=pull["html_url"],
            closed_at=None,
            created_at=NOW,
            updated_at=NOW,
        )
        return pull

    # -- handlers -----------------------------------------------------------------------
    def _h_get_repo(self, *, query: dict[str, str], payload: Any) -> Reply:
        repo = self._obj(
            "full-repository-default-response",
            name=self.repo,
            language="Python",
            full_name=f"{self.owner}/{self.repo}",
            url=self._base,
            fork=False,
        )
        for key in ("parent", "source", "template_repository"):  # not a fork
            repo.pop(key, None)
        return Reply(200, repo)

    def _h_get_issue(self, number: str, *, query: dict[str, str], payload: Any) -> Reply:
        issue = self.issues.get(int(number))
        return Reply(200, issue) if issue else _error(404, "Not Found")

    def _h_list_comments(self, number: str, *, query: dict[str, str], payload: Any) -> Reply:
        if int(number) not in self.issues:
            return _error(404, "Not Found")
        items = [_public(c) for c in self.comments_on(int(number))]
        return self._page(items, query, f"{self._base}/issues/{number}/comments")

    def _h_create_comment(self, number: str, *, query: dict[str, str], payload: Any) -> Reply:
        if int(number) not in self.issues:
            return _error(404, "Not Found")
        if not isinstance(payload.get("body"), str):
            return _invalid("IssueComment", "body")
        cid = next(self._ids)
        comment = self._obj(
            "issue-comment",
            id=cid,
            body=payload["body"],
            url=f"{self._base}/issues/comments/{cid}",
            html_url=f"{self.issues[int(number)]['html_url']}#issuecomment-{cid}",
            issue_url=f"{self._base}/issues/{number}",
            created_at=NOW,
            updated_at=NOW,
        )
        comment["_issue"] = int(number)
        self.comments[cid] = comment
        self.issues[int(number)]["comments"] += 1
        return Reply(201, _public(comment), {"Location": comment["url"]})

    def _h_update_comment(self, cid: str, *, query: dict[str, str], payload: Any) -> Reply:
        comment = self.comments.get(int(cid))
        if comment is None:
            return _error(404, "Not Found")
        if not isinstance(payload.get("body"), str):
            return _invalid("IssueComment", "body")
        comment.update(body=payload["body"], updated_at=NOW)
        return Reply(200, _public(comment))

    def _h_add_labels(self, number: str, *, query: dict[str, str], payload: Any) -> Reply:
        issue = self.issues.get(int(number))
        if issue is None:
            return _error(404, "Not Found")
        names = payload.get("labels") if isinstance(payload, dict) else payload
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return _invalid("Label", "labels")
        have = {label["name"] for label in issue["labels"]}
        for name in names:
            if name not in have:
                label = self._rewrite(self.spec.example("label-items")[0])
                label.update(
                    id=next(self._ids), name=name, default=False, url=f"{self._base}/labels/{name}"
                )
                issue["labels"].append(label)
        if int(number) in self.pulls:
            self.pulls[int(number)]["labels"] = issue["labels"]
        return Reply(200, issue["labels"])

    def _h_create_status(self, sha: str, *, query: dict[str, str], payload: Any) -> Reply:
        if payload.get("state") not in ("error", "failure", "pending", "success"):
            return _invalid("Status", "state")
        status = self._obj(
            "status",
            id=next(self._ids),
            state=payload["state"],
            description=payload.get("description"),
            target_url=payload.get("target_url"),
            context=payload.get("context") or "default",
            url=f"{self._base}/statuses/{sha}",
            created_at=NOW,
            updated_at=NOW,
        )
        self.statuses.setdefault(sha, []).insert(0, status)
        self._settle_auto_merges(sha)
        return Reply(201, status)

    def _h_list_statuses(self, ref: str, *, query: dict[str, str], payload: Any) -> Reply:
        return self._page(self.statuses.get(ref, []), query, f"{self._base}/commits/{ref}/statuses")

    def _h_list_pulls(self, *, query: dict[str, str], payload: Any) -> Reply:
        state = query.get("state", "open")
        found = []
        for pull in sorted(self.pulls.values(), key=lambda p: -p["number"]):
            if state != "all" and pull["state"] != state:
                continue
            if "head" in query and query["head"] != pull["head"]["label"]:
                continue
            if "base" in query and query["base"] != pull["base"]["ref"]:
                continue
            found.append(_simple_pull(self._refresh(pull)))
        return self._page(found, query, f"{self._base}/pulls")

    def _h_create_pull(self, *, query: dict[str, str], payload: Any) -> Reply:
        for key in ("head", "base", "title"):
            if not isinstance(payload.get(key), str) or not payload[key]:
                return _invalid("PullRequest", key)
        label = f"{self.owner}:{payload['head']}"
        if any(p["head"]["label"] == label for p in self.open_pulls()):
            return _invalid(
                "PullRequest",
                "head",
                code="custom",
                message=f"A pull request already exists for {label}.",
            )
        pull = self._new_pull(payload, sha=self._head_sha(payload["head"]), by=self.caller)
        return Reply(201, pull, {"Location": pull["url"]})

    def _h_get_pull(self, number: str, *, query: dict[str, str], payload: Any) -> Reply:
        pull = self.pulls.get(int(number))
        return Reply(200, self._refresh(pull)) if pull else _error(404, "Not Found")

    def _h_update_pull(self, number: str, *, query: dict[str, str], payload: Any) -> Reply:
        pull = self.pulls.get(int(number))
        if pull is None:
            return _error(404, "Not Found")
        if payload.get("state") not in (None, "open", "closed"):
            return _invalid("PullRequest", "state")
        for key in ("title", "body", "state"):
            if key in payload:
                pull[key] = payload[key]
                self.issues[int(number)][key] = payload[key]
        if payload.get("state") == "closed" and not pull["merged"]:
            pull["closed_at"] = self.issues[int(number)]["closed_at"] = NOW
        if "base" in payload:
            pull["base"].update(ref=payload["base"], label=f"{self.owner}:{payload['base']}")
        pull["updated_at"] = NOW
        return Reply(200, self._refresh(pull))

    def _h_list_deployments(self, *, query: dict[str, str], payload: Any) -> Reply:
        items = [
            d
            for d in sorted(self.deployments.values(), key=lambda d: -d["id"])
            if query.get("environment") in (None, d["environment"])
        ]
        return self._page(items, query, f"{self._base}/deployments")

    def _h_create_deployment(self, *, query: dict[str, str], payload: Any) -> Reply:
        if not isinstance(payload.get("ref"), str) or not payload["ref"]:
            return _invalid("Deployment", "ref")
        did = next(self._ids)
        extra = payload.get("payload")
        deployment = self._obj(
            "deployment",
            id=did,
            ref=payload["ref"],
            sha="c" * 40,
            environment=payload.get("environment") or "production",
            original_environment=payload.get("environment") or "production",
            description=payload.get("description"),
            payload=extra if isinstance(extra, dict) else {},
            url=f"{self._base}/deployments/{did}",
            statuses_url=f"{self._base}/deployments/{did}/statuses",
            created_at=NOW,
            updated_at=NOW,
        )
        self.deployments[did] = deployment
        self.deployment_statuses[did] = []
        return Reply(201, deployment)

    def _h_get_deployment(self, did: str, *, query: dict[str, str], payload: Any) -> Reply:
        deployment = self.deployments.get(int(did))
        return Reply(200, deployment) if deployment else _error(404, "Not Found")

    def _h_list_deployment_statuses(
        self, did: str, *, query: dict[str, str], payload: Any
    ) -> Reply:
        if int(did) not in self.deployments:
            return _error(404, "Not Found")
        url = f"{self._base}/deployments/{did}/statuses"
        return self._page(self.deployment_statuses[int(did)], query, url)

    def _h_create_deployment_status(
        self, did: str, *, query: dict[str, str], payload: Any
    ) -> Reply:
        deployment = self.deployments.get(int(did))
        if deployment is None:
            return _error(404, "Not Found")
        states = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
        if payload.get("state") not in states:
            return _invalid("DeploymentStatus", "state")
        sid = next(self._ids)
        status = self._obj(
            "deployment-status",
            id=sid,
            state=payload["state"],
            description=payload.get("description") or "",
            environment=deployment["environment"],
            target_url=payload.get("target_url") or "",
            log_url=payload.get("log_url") or "",
            environment_url=payload.get("environment_url") or "",
            url=f"{self._base}/deployments/{did}/statuses/{sid}",
            deployment_url=deployment["url"],
            repository_url=self._base,
            created_at=NOW,
            updated_at=NOW,
        )
        self.deployment_statuses[int(did)].insert(0, status)
        return Reply(201, status)

    def _page(self, items: list[Any], query: dict[str, str], url: str) -> Reply:
        per_page = min(100, int(query.get("per_page", 30)))
        page = int(query.get("page", 1))
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {}
        if page * per_page < len(items):
            headers["Link"] = f'<{url}?per_page={per_page}&page={page + 1}>; rel="next"'
        return Reply(200, chunk, headers)


def _media_type(reply: Reply, accept: str) -> Reply:
    """The `full` media type (github3.py's default) adds body_text and body_html."""
    if ".full+json" not in accept or reply.status >= 300:
        return reply
    items = reply.body if isinstance(reply.body, list) else [reply.body]
    out = []
    for item in items:
        if isinstance(item, dict) and "body" in item and ("number" in item or "issue_url" in item):
            body = item.get("body") or ""
            item = {**item, "body_text": body, "body_html": f"<p>{html.escape(body)}</p>"}
        out.append(item)
    return Reply(reply.status, out if isinstance(reply.body, list) else out[0], reply.headers)


def _public(comment: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in comment.items() if not k.startswith("_")}


def _simple_pull(pull: dict[str, Any]) -> dict[str, Any]:
    drop = (
        "additions",
        "changed_files",
        "comments",
        "commits",
        "deletions",
        "mergeable",
        "mergeable_state",
        "merged",
        "merged_by",
        "rebaseable",
        "review_comments",
        "maintainer_can_modify",
    )
    return {k: copy.deepcopy(v) for k, v in pull.items() if k not in drop}


def _error(status: int, message: str) -> Reply:
    return Reply(
        status,
        {
            "message": message,
            "documentation_url": "https://docs.github.com/rest",
            "status": str(status),
        },
    )


def _invalid(
    resource: str, field_name: str, *, code: str = "missing_field", message: str | None = None
) -> Reply:
    error: dict[str, Any] = {"resource": resource, "field": field_name, "code": code}
    if message:
        error["message"] = message
    return Reply(
        422,
        {
            "message": "Validation Failed",
            "errors": [error],
            "documentation_url": "https://docs.github.com/rest",
        },
    )
