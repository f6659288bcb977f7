"""How the GitHub adapter reads GitHub's refusals: a rate limit to wait out, or a token
that lacks a permission (named, never the token itself)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from leptonci.core.errors import GitHubError

if TYPE_CHECKING:
    import requests


def rate_limit_wait(response: requests.Response | None, code: int, message: str) -> float | None:
    """Seconds to wait when the response is a (primary or secondary) rate limit."""
    if code not in (403, 429) or response is None:
        return None
    headers = response.headers
    retry_after = headers.get("Retry-After")
    if retry_after is not None:
        try:
            return max(0.0, float(retry_after))
        except ValueError:
            return 60.0
    if headers.get("X-RateLimit-Remaining") == "0":
        try:
            return max(0.0, float(headers.get("X-RateLimit-Reset", "0")) - time.time()) + 1
        except ValueError:
            return 60.0
    if "rate limit" in message.lower() or code == 429:
        return 60.0
    return None


def refused(repo: str, what: str, needs: str, code: int, message: str) -> GitHubError:
    if code == 401:
        return GitHubError(
            f"GitHub rejected the token for {repo} ({code} {message}) while doing {what}",
            hint="check that GITHUB_TOKEN is set to a valid, unexpired token",
        )
    return GitHubError(
        f"GitHub refused the token for {repo}: needs {needs} ({code} {message}, {what})",
        hint="add it to the workflow's permissions: block, or to the GitHub App's permissions "
        "when the token is an App's (pull requests from forks get a read-only token)",
    )
