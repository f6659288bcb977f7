"""Merging in the fake GitHub: the merge API, reviews, check runs and auto-merge.

A pull request merges (``PUT .../pulls/N/merge``) only when its base branch's
``Protection`` allows it: every required check reported as success on the head commit
(a commit status or a check run of that name), enough approving reviews from people
other than its author, a code owner's approval for owned files. Otherwise GitHub's 405
says what is missing, unless the caller is a bypass actor. Auto-merge is GitHub's
GraphQL ``enablePullRequestAutoMerge`` mutation (the REST API has none): it marks the
pull request, and the fake merges it the moment a status, check run or review makes it
mergeable, as GitHub does. Enabling it on a pull request that could merge already fails
with GitHub's "Pull request is in clean status".
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from tests.github_fake_routes import NOW, Reply, _error
from tests.github_fake_rules import Protection, RemoteRepo, code_owners, owners_of
from tests.openapi import Spec

SUCCESS = ("success", "neutral", "skipped")


class MergeEndpoints:
    """Handlers and rules for merging; mixed into FakeGitHub."""

    spec: Spec
    owner: str
    repo: str
    caller: str
    pulls: dict[int, dict[str, Any]]
    issues: dict[int, dict[str, Any]]
    statuses: dict[str, list[dict[str, Any]]]
    check_runs: dict[str, list[dict[str, Any]]]
    reviews: dict[int, list[dict[str, Any]]]
    protection: dict[str, Protection]
    remote: RemoteRepo | None
    auto_merge_allowed: bool
    merges: list[tuple[int, str]]
    _ids: itertools.count[int]

    def _obj(self, example: str, **fields: Any) -> dict[str, Any]:
        raise NotImplementedError

    def _user(self, login: str) -> dict[str, Any]:
        raise NotImplementedError

    @property
    def _base(self) -> str:
        raise NotImplementedError

    # -- rules ------------------------------------------------------------------------
    def blockers(self, pull: dict[str, Any], *, caller: str | None = None) -> list[str]:
        """Why pull cannot merge now (GitHub's words), [] when it can."""
        rules = self.protection.get(pull["base"]["ref"])
        if rules is None or (caller is not None and caller in rules.bypass):
            return []
        sha = pull["head"]["sha"]
        out = []
        for context in rules.contexts:
            if not self._check_passed(sha, context):
                out.append(f'Required status check "{context}" is expected.')
        approvers = self._approvers(pull)
        if len(approvers) < rules.reviews:
            count = rules.reviews
            out.append(
                f"At least {count} approving review{'s' if count > 1 else ''} is required by "
                "reviewers with write access."
            )
        if rules.code_owners and self.remote is not None:
            base = pull["base"]["ref"]
            owners = code_owners(self.remote.file(base, ".github/CODEOWNERS"))
            files = self.remote.changed_files(base, pull["head"]["ref"])
            for path in files:
                wanted = owners_of(path, owners)
                if wanted and not set(wanted) & approvers:
                    out.append("Waiting on code owner review from " + ", ".join(wanted) + ".")
                    break
        return out

    def _check_passed(self, sha: str, context: str) -> bool:
        latest = next((s for s in self.statuses.get(sha, []) if s["context"] == context), None)
        if latest is not None and latest["state"] == "success":
            return True
        runs = [r for r in self.check_runs.get(sha, []) if r["name"] == context]
        return bool(runs) and runs[0]["conclusion"] in SUCCESS

    def _approvers(self, pull: dict[str, Any]) -> set[str]:
        latest: dict[str, str] = {}
        for review in self.reviews.get(pull["number"], []):
            latest[review["user"]["login"]] = review["state"]
        author = pull["user"]["login"]
        return {who for who, state in latest.items() if state == "APPROVED" and who != author}

    def _merge(self, pull: dict[str, Any], *, method: str, title: str, message: str) -> str:
        head, base = pull["head"]["ref"], pull["base"]["ref"]
        if self.remote is not None:
            sha = self.remote.merge(
                head=head, base=base, method=method, title=title, message=message
            )
            self.remote.delete_branch(head)  # "Automatically delete head branches"
        else:
            sha = "d" * 40
        number = pull["number"]
        pull.update(
            state="closed",
            merged=True,
            merged_at=NOW,
            closed_at=NOW,
            merge_commit_sha=sha,
            merged_by=self._user(self.caller),
        )
        self.issues[number].update(state="closed", closed_at=NOW)
        self.merges.append((number, method))
        return sha

    def _settle_auto_merges(self, sha: str | None = None) -> None:
        """Merge every open pull request marked for auto-merge that can merge now."""
        for pull in list(self.pulls.values()):
            auto = pull.get("auto_merge")
            if pull["state"] != "open" or not auto or (sha and pull["head"]["sha"] != sha):
                continue
            if not self.blockers(pull):
                self._merge(
                    pull,
                    method=auto["merge_method"],
                    title=auto["commit_title"],
                    message=auto["commit_message"],
                )

    # -- REST handlers ----------------------------------------------------------------
    def _h_merge_pull(self, number: str, *, query: dict[str, str], payload: Any) -> Reply:
        pull = self.pulls.get(int(number))
        if pull is None:
            return _error(404, "Not Found")
        if pull["state"] != "open":
            return Reply(405, {"message": "Pull Request is not mergeable"})
        if payload.get("sha") and payload["sha"] != pull["head"]["sha"]:
            return Reply(
                409, {"message": "Head branch was modified. Review and try the merge again."}
            )
        blocked = self.blockers(pull, caller=self.caller)
        if blocked:
            return Reply(405, {"message": "Repository rule violations found\n\n" + blocked[0]})
        method = payload.get("merge_method") or "merge"
        title = payload.get("commit_title") or f"Merge pull request #{number}"
        sha = self._merge(
            pull, method=method, title=title, message=payload.get("commit_message") or ""
        )
        return Reply(
            200, {"sha": sha, "merged": True, "message": "Pull Request successfully merged"}
        )

    def _h_create_review(self, number: str, *, query: dict[str, str], payload: Any) -> Reply:
        pull = self.pulls.get(int(number))
        if pull is None:
            return _error(404, "Not Found")
        event = payload.get("event")
        if event == "APPROVE" and pull["user"]["login"] == self.caller:
            return Reply(
                422,
                {
                    "message": "Unprocessable Entity",
                    "errors": ["Can not approve your own pull request"],
                    "documentation_url": "https://docs.github.com/rest",
                },
            )
        state = {"APPROVE": "APPROVED", "REQUEST_CHANGES": "CHANGES_REQUESTED"}.get(
            event or "", "COMMENTED"
        )
        rid = next(self._ids)
        review = self._obj(
            "pull-request-review",
            id=rid,
            user=self._user(self.caller),
            body=payload.get("body") or "",
            state=state,
            commit_id=pull["head"]["sha"],
            html_url=f"{pull['html_url']}#pullrequestreview-{rid}",
            pull_request_url=pull["url"],
        )
        self.reviews.setdefault(int(number), []).append(review)
        self._settle_auto_merges()
        return Reply(200, review)

    def _h_create_check_run(self, *, query: dict[str, str], payload: Any) -> Reply:
        for key in ("name", "head_sha"):
            if not isinstance(payload.get(key), str) or not payload[key]:
                return Reply(
                    422,
                    {"message": "Validation Failed", "errors": [f"{key} is missing"]},
                )
        output = payload.get("output") or {}
        for key in ("summary", "text"):
            if len(output.get(key) or "") > 65535:
                return Reply(422, {"message": "Invalid request.", "errors": [f"{key} is too long"]})
        cid = next(self._ids)
        run = self._obj(
            "check-run-example-of-completed-conclusion",
            id=cid,
            name=payload["name"],
            head_sha=payload["head_sha"],
            status=payload.get("status") or "queued",
            conclusion=payload.get("conclusion"),
            details_url=payload.get("details_url"),
            url=f"{self._base}/check-runs/{cid}",
            started_at=NOW,
            completed_at=NOW if payload.get("conclusion") else None,
        )
        run["output"].update(
            title=output.get("title"),
            summary=output.get("summary"),
            text=output.get("text"),
            annotations_count=0,
        )
        self.check_runs.setdefault(payload["head_sha"], []).insert(0, run)
        self._settle_auto_merges(payload["head_sha"])
        return Reply(201, run)

    # -- GraphQL ----------------------------------------------------------------------
    def graphql(self, raw: bytes) -> Reply:
        """The one mutation leptonci sends: enablePullRequestAutoMerge."""
        try:
            request = json.loads(raw)
        except ValueError:
            return Reply(400, {"message": "Problems parsing JSON"})
        query = str(request.get("query") or "")
        variables = request.get("variables") or {}
        if not re.search(r"\benablePullRequestAutoMerge\s*\(", query):
            return _graphql_error("Field not supported by this fake", kind="UNSUPPORTED")
        pull = next(
            (p for p in self.pulls.values() if p["node_id"] == variables.get("pullRequestId")),
            None,
        )
        if pull is None:
            msg = f"Could not resolve to a node with the global id of '{variables.get('pullRequestId')}'"
            return _graphql_error(msg, kind="NOT_FOUND")
        if not self.auto_merge_allowed:
            return _graphql_error("Pull request Auto merge is not allowed for this repository")
        if pull["base"]["ref"] not in self.protection:
            return _graphql_error(
                "Pull request Protected branch rules not configured for this branch"
            )
        if pull["state"] != "open":
            return _graphql_error("Pull request Pull request is closed")
        if not self.blockers(pull):
            return _graphql_error("Pull request Pull request is in clean status")
        method = str(variables.get("mergeMethod") or "MERGE").lower()
        pull["auto_merge"] = {
            "enabled_by": self._user(self.caller),
            "merge_method": method,
            "commit_title": str(variables.get("commitHeadline") or pull["title"]),
            "commit_message": str(variables.get("commitBody") or ""),
        }
        data = {
            "enablePullRequestAutoMerge": {
                "pullRequest": {
                    "number": pull["number"],
                    "url": pull["html_url"],
                    "autoMergeRequest": {"enabledAt": NOW, "mergeMethod": method.upper()},
                }
            }
        }
        return Reply(200, {"data": data})


def _graphql_error(message: str, *, kind: str = "UNPROCESSABLE") -> Reply:
    return Reply(
        200,
        {
            "data": {"enablePullRequestAutoMerge": None},
            "errors": [
                {
                    "type": kind,
                    "path": ["enablePullRequestAutoMerge"],
                    "locations": [{"line": 2, "column": 3}],
                    "message": message,
                }
            ],
        },
    )
