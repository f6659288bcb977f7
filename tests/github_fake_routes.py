"""The wire of the fake GitHub: its routes, and the shapes of the replies it gives.

``ROUTES`` maps each REST operation the fake serves to the permission a GITHUB_TOKEN
needs for it and to the handler (``_h_NAME``) that answers it, in ``tests.github_fake_api``,
``tests.github_fake_deployments`` or ``tests.github_fake_merge``. The helpers here build
GitHub's error bodies, its pagination and its ``full`` media type.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from typing import Any

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


def _page(items: list[Any], query: dict[str, str], url: str) -> Reply:
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
