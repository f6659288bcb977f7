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
several long lines, as a debugging proxy in front of GitHub might).
"""

from __future__ import annotations

import base64
import itertools
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from tests.github_fake_api import (
    ROUTES,
    GitHubEndpoints,
    Reply,
    Route,
    _error,
    _media_type,
)
from tests.openapi import Spec, load_spec

TOKEN = "ghs_FakeTokenForTests0123456789abcdefXYZ"


class FakeGitHub(GitHubEndpoints):
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
        self, *, head: str, base: str = "main", sha: str = "a" * 40, title: str = "A change"
    ) -> int:
        with self._lock:
            return self._new_pull(
                {"head": head, "base": base, "title": title, "body": ""}, sha=sha
            )["number"]

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
            route, args = self._match(method, path)
            reply = self._dispatch(http, route, args, query, raw)
            reply = _media_type(reply, http.headers.get("Accept", ""))
            if self.echo_auth and reply.status >= 400:
                reply = _echoing(reply, http.headers.get("Authorization", ""))
            if route is not None:
                self._check(route, method, reply)
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
        if auth.split(" ", 1)[-1] != self.token:
            return _error(401, "Bad credentials")
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
