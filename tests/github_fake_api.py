"""The endpoints of the fake GitHub: repository, issue, comment, status and PR handlers.

``GitHubEndpoints`` is the half of ``tests.github_fake.FakeGitHub`` that answers
requests; objects start from the examples in GitHub's OpenAPI description and get
this fake's state and URLs patched in. The routes and reply shapes are in
``tests.github_fake_routes``; deployments in ``tests.github_fake_deployments``;
merging, reviews and check runs in ``tests.github_fake_merge``.
"""

from __future__ import annotations

import copy
import itertools
import json
import re
from typing import Any

from tests.github_fake_routes import NOW, Reply, _error, _invalid, _page
from tests.openapi import Spec


class GitHubEndpoints:
    """Request handlers over the state FakeGitHub holds."""

    owner: str
    repo: str
    spec: Spec
    issues: dict[int, dict[str, Any]]
    pulls: dict[int, dict[str, Any]]
    comments: dict[int, dict[str, Any]]
    statuses: dict[str, list[dict[str, Any]]]
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
        return _page(items, query, f"{self._base}/issues/{number}/comments")

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
        return _page(self.statuses.get(ref, []), query, f"{self._base}/commits/{ref}/statuses")

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
        return _page(found, query, f"{self._base}/pulls")

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
