"""A stateful fake of GitHub's REST API on loopback, checked against GitHub's OpenAPI.

Objects start from the examples in GitHub's published OpenAPI description (the
trimmed copy in ``tests/openapi/``), so they carry every field github3.py reads; the
fake then patches in its own state (ids, bodies, URLs pointing at itself). Every
response body it serves is validated against the description's schema for that
operation and status; failures collect in ``schema_errors``, which the
``github_fake`` fixture asserts empty.

Knobs for tests: ``deny`` (permissions answered with 403), ``fail_next`` (queued
5xx / rate-limit answers), a wrong token gives 401, ``echo_auth`` (every error message
quotes the request's Authorization header, plain, base64 and percent-encoded, over
several long lines, as a debugging proxy in front of GitHub might). Each token is an
identity (``identity`` adds one: a GitHub App's bot, a reviewer). With ``attach`` the
fake reads branch tips from a bare git remote and merges there; ``protect`` gives a
branch GitHub's protection rules (``tests/github_fake_merge.py``) and puts GitHub's
refusal of a direct push into the remote's pre-receive hook.
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from tests.github_fake_api import GitHubEndpoints
from tests.github_fake_deployments import DeploymentEndpoints
from tests.github_fake_merge import MergeEndpoints
from tests.github_fake_routes import ROUTES, Reply, Route, _error, _media_type
from tests.github_fake_rules import Protection, RemoteRepo, install_protection_hook
from tests.openapi import Spec, load_spec

TOKEN = "ghs_FakeTokenForTests0123456789abcdefXYZ"
ACTIONS_BOT = "github-actions[bot]"
APP_BOT = "leptonci-app[bot]"
APP_TOKEN = "ghs_FakeAppInstallationToken0123456789ab"


class FakeGitHub(GitHubEndpoints, DeploymentEndpoints, MergeEndpoints):
    """The state of one repository and the loopback server that serves it."""

    def __init__(
        self,
        *,
        owner: str = "octo-org",
        repo: str = "models",
        token: str = TOKEN,
        prefix: str = "",
        spec: Spec | None = None,
    ) -> None:
        self.owner, self.repo, self.token, self.prefix = owner, repo, token, prefix
        self.spec = spec or load_spec()
        self.tokens: dict[str, str] = {token: ACTIONS_BOT, APP_TOKEN: APP_BOT}
        self.caller = ACTIONS_BOT
        self.deny: set[str] = set()
        self.echo_auth = False
        self.queued_failures: list[Reply] = []
        self.schema_errors: list[str] = []
        self.requests: list[tuple[str, str]] = []  # (method, path?query) without prefix
        self.validated: set[tuple[str, str]] = set()  # (method, template) checked 2xx
        self.issues: dict[int, dict[str, Any]] = {}
        self.pulls: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, dict[str, Any]] = {}  # id -> comment (+ "_issue")
        self.statuses: dict[str, list[dict[str, Any]]] = {}
        self.deployments: dict[int, dict[str, Any]] = {}
        self.deployment_statuses: dict[int, list[dict[str, Any]]] = {}
        self.check_runs: dict[str, list[dict[str, Any]]] = {}
        self.reviews: dict[int, list[dict[str, Any]]] = {}
        self.protection: dict[str, Protection] = {}
        self.remote: RemoteRepo | None = None
        self.auto_merge_allowed = True
        self.merges: list[tuple[int, str]] = []  # (number, method) in order
        self.graphql_requests: list[dict[str, Any]] = []
        # called (method, path) under the fake's lock before each request is answered:
        # what another client does at that moment (a racing run opening a pull request)
        self.before_request: list[Callable[[str, str], None]] = []
        self._ids = itertools.count(1000)
        self._numbers = itertools.count(1)
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    # -- lifecycle ------------------------------------------------------------------
    def start(self) -> FakeGitHub:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._serve(self, "GET")

            def do_POST(self) -> None:
                fake._serve(self, "POST")

            def do_PATCH(self) -> None:
                fake._serve(self, "PATCH")

            def do_PUT(self) -> None:
                fake._serve(self, "PUT")

            def log_message(self, format: str, *args: Any) -> None:
                return None

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def api_url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.prefix}"

    @property
    def server_url(self) -> str:
        return "https://github.example"

    def env(self, **extra: str) -> dict[str, str]:
        """The variables GitHub Actions would set for a workflow in this repository."""
        return {
            "GITHUB_TOKEN": self.token,
            "GITHUB_API_URL": self.api_url,
            "GITHUB_REPOSITORY": f"{self.owner}/{self.repo}",
            "GITHUB_SERVER_URL": self.server_url,
            **extra,
        }

    # -- test helpers ---------------------------------------------------------------
    def identity(self, login: str) -> str:
        """A token that acts as login (a reviewer, a developer, an App's bot)."""
        token = "ghs_" + "".join(c for c in login if c.isalnum()).ljust(36, "0")
        self.tokens[token] = login
        return token

    def attach(self, remote: Path) -> FakeGitHub:
        """Serve the repository whose git side is the bare remote."""
        self.remote = RemoteRepo(remote)
        return self

    def protect(
        self,
        branch: str = "main",
        *,
        contexts: tuple[str, ...] = (),
        reviews: int = 0,
        code_owners: bool = False,
        bypass: tuple[str, ...] = (),
    ) -> Protection:
        """Protect branch as GitHub does: pushes refused, merges only by the rules."""
        rules = Protection(branch, tuple(contexts), reviews, code_owners, tuple(bypass))
        self.protection[branch] = rules
        if self.remote is not None:
            install_protection_hook(self.remote.path, rules)
        return rules

    def approve(self, number: int, *, by: str) -> int:
        """A review approving pull request number, as the person by (through the API)."""
        return self._as(by, "POST", f"/pulls/{number}/reviews", {"event": "APPROVE"})[0]

    def merge(self, number: int, *, by: str, method: str = "merge") -> tuple[int, Any]:
        """A person pressing the merge button: (HTTP status, answer); the rules apply."""
        return self._as(by, "PUT", f"/pulls/{number}/merge", {"merge_method": method})

    def _as(self, login: str, method: str, path: str, payload: Any) -> tuple[int, Any]:
        import requests

        token = next((t for t, who in self.tokens.items() if who == login), None)
        token = token or self.identity(login)
        url = f"{self.api_url}/repos/{self.owner}/{self.repo}{path}"
        answer = requests.request(
            method, url, json=payload, headers={"Authorization": f"token {token}"}, timeout=30
        )
        return answer.status_code, answer.json()

    def pull_for(self, head: str) -> dict[str, Any]:
        return next(p for p in self.pulls.values() if p["head"]["ref"] == head)

    def _head_sha(self, branch: str) -> str:
        tip = self.remote.tip(branch) if self.remote is not None else None
        return tip or "b" * 40

    def fail_next(
        self,
        status: int,
        *,
        times: int = 1,
        headers: dict[str, str] | None = None,
        message: str = "Server Error",
    ) -> None:
        body = {"message": message, "documentation_url": "https://docs.github.com/rest"}
        self.queued_failures += [Reply(status, body, dict(headers or {}))] * times

    def add_pull_request(
        self,
        *,
        head: str,
        base: str = "main",
        sha: str | None = None,
        title: str = "A change",
        by: str = "octo-dev",
    ) -> int:
        with self._lock:
            head_sha = sha or self._head_sha(head)
            payload = {"head": head, "base": base, "title": title, "body": ""}
            return int(self._new_pull(payload, sha=head_sha, by=by)["number"])

    def add_comment(self, number: int, body: str) -> int:
        """A comment someone else wrote on issue or PR number."""
        with self._lock:
            reply = self._h_create_comment(str(number), query={}, payload={"body": body})
        return int(reply.body["id"])

    # -- serving ----------------------------------------------------------------------
    def _serve(self, http: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(http.path)
        path = parts.path.removeprefix(self.prefix)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        length = int(http.headers.get("Content-Length") or 0)
        raw = http.rfile.read(length) if length else b""
        with self._lock:
            self.requests.append((method, path + (f"?{parts.query}" if parts.query else "")))
            if method == "POST" and path in ("/graphql", "/api/graphql"):
                self._answer(http, self._graphql(http, raw))
                return
            for hook in self.before_request:
                hook(method, path)
            route, args = self._match(method, path)
            reply = self._dispatch(http, route, args, query, raw)
            reply = _media_type(reply, http.headers.get("Accept", ""))
            if self.echo_auth and reply.status >= 400:
                reply = _echoing(reply, http.headers.get("Authorization", ""))
            if route is not None:
                self._check(route, method, reply)
        self._answer(http, reply)

    def _graphql(self, http: BaseHTTPRequestHandler, raw: bytes) -> Reply:
        login = self.tokens.get(http.headers.get("Authorization", "").split(" ", 1)[-1])
        if login is None:
            return _error(401, "Bad credentials")
        self.caller = login
        try:
            self.graphql_requests.append(json.loads(raw))
        except ValueError:
            pass
        return self.graphql(raw)

    def _answer(self, http: BaseHTTPRequestHandler, reply: Reply) -> None:
        data = json.dumps(reply.body).encode() if reply.body is not None else b""
        http.send_response(reply.status)
        http.send_header("Content-Type", "application/json; charset=utf-8")
        http.send_header("Content-Length", str(len(data)))
        for key, value in reply.headers.items():
            http.send_header(key, value)
        http.end_headers()
        http.wfile.write(data)

    def _match(self, method: str, path: str) -> tuple[Route | None, tuple[str, ...]]:
        for route in ROUTES:
            found = route.pattern.match(path)
            if found and route.method == method:
                return route, found.groups()
        return None, ()

    def _dispatch(
        self,
        http: BaseHTTPRequestHandler,
        route: Route | None,
        args: tuple[str, ...],
        query: dict[str, str],
        raw: bytes,
    ) -> Reply:
        auth = http.headers.get("Authorization", "")
        login = self.tokens.get(auth.split(" ", 1)[-1])
        if login is None:
            return _error(401, "Bad credentials")
        self.caller = login
        if route is None:
            return _error(404, "Not Found")
        if self.queued_failures:
            return self.queued_failures.pop(0)
        if tuple(args[:2]) != (self.owner, self.repo):
            return _error(404, "Not Found")
        if route.permission in self.deny:
            return _error(403, "Resource not accessible by integration")
        try:
            payload = json.loads(raw) if raw else {}
        except ValueError:
            return _error(400, "Problems parsing JSON")
        handler: Callable[..., Reply] = getattr(self, "_h_" + route.handler)
        return handler(*args[2:], query=query, payload=payload)

    def _check(self, route: Route, method: str, reply: Reply) -> None:
        if reply.status < 300:
            self.validated.add((method, route.template))
        for problem in self.spec.check(route.template, method, reply.status, reply.body):
            self.schema_errors.append(f"{method} {route.template} {reply.status}: {problem}")


def _echoing(reply: Reply, auth: str) -> Reply:
    echo = (
        f"\nrequest: Authorization: {auth}\nencoded: {base64.b64encode(auth.encode()).decode()}"
        f"\nretry: https://github.example/login?credential={quote(auth, safe='')}\n"
        + "see the logs for more detail "
        * 12
    )
    return Reply(
        reply.status, {**reply.body, "message": reply.body["message"] + echo}, reply.headers
    )


@pytest.fixture(name="github_fake")
def github_fake_fixture() -> Iterator[FakeGitHub]:
    """A running fake GitHub for repository octo-org/models; no schema errors allowed."""
    fake = FakeGitHub().start()
    try:
        yield fake
    finally:
        fake.stop()
    assert not fake.schema_errors, "\n".join(fake.schema_errors)
