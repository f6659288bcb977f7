"""The one request funnel to a registry: timeouts, auth, retries, and errors that say what.

``RegistryConnection`` knows nothing of blobs or manifests; it sends one request with
the right Authorization (``registry_auth``), maps a 5xx or a broken connection to a
retryable error and a refusal to ``RegistryAuthError``, and retries a call with the
shared backoff. Errors name the registry and the repository and never a credential.
One connection object may be used from several threads (one HTTP session per thread).

Deadlines (``core.deadlines``, enforced by ``adapters.deadline``): ``connect`` to open a
connection; ``read`` for the whole answer to a small call, however slowly it trickles;
blob transfers may take any time while bytes move, but give up when fewer than a
``window`` of bytes moved in ``stall`` seconds. (While a request body is sent, urllib3
holds the socket to the connect timeout; so blob bodies are sent under the stall
timeout, a window at a time, on a connection the preceding small call opened.) The
tries of one call stop after ``give_up`` seconds, whatever ``retry.attempts`` allows.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests

from leptonci.adapters.http_deadline import deadline_session
from leptonci.adapters.images.credentials import Credentials
from leptonci.adapters.images.registry_auth import (
    Challenge,
    RegistryAuth,
    Scope,
    parse_challenge,
)
from leptonci.adapters.retrying import retry_call
from leptonci.core.backoff import Backoff
from leptonci.core.deadlines import Deadlines
from leptonci.core.errors import RegistryAuthError, RegistryError
from leptonci.core.redact import excerpt, redact

T = TypeVar("T")
MONOLITHIC_LIMIT = 8 << 20  # a blob of known digest up to this size goes up in one PUT
# bytes per PATCH: each is a round trip, and what a registry that keeps no partial
# chunk loses when the connection breaks (the body streams: memory does not grow with it)
CHUNK_SIZE = 128 << 20


@dataclass(frozen=True)
class RetryPolicy(Backoff):
    """Bounded retries for 5xx and connection errors."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 8.0


class ServerError(Exception):
    """A 5xx answer: retryable."""


class SessionLost(Exception):
    """The registry no longer knows the upload session: start a new one."""


class RangeMismatch(Exception):
    """The registry holds other bytes than the chunk assumed: ask it where it is."""


TRANSIENT: tuple[type[Exception], ...] = (
    ServerError,
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def describe(exc: BaseException) -> str:
    """A short, secret-free name for a transient failure."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        return "connection error"
    return redact(str(exc)) or type(exc).__name__


class RegistryConnection:
    """Requests to one registry host, authenticated, retried, with explicit timeouts."""

    def __init__(
        self,
        host: str,
        *,
        plain_http: bool = False,
        credentials: Credentials | None = None,
        retry: RetryPolicy | None = None,
        deadlines: Deadlines | None = None,
        read_timeout: float | None = None,
        stall_timeout: float | None = None,
        chunk_size: int = CHUNK_SIZE,
        monolithic_limit: int = MONOLITHIC_LIMIT,
    ) -> None:
        self.host = host
        self.retry = retry or RetryPolicy()
        deadlines = deadlines or Deadlines()
        overrides = {"read": read_timeout, "stall": stall_timeout}
        self.deadlines = deadlines.model_copy(
            update={k: v for k, v in overrides.items() if v is not None}
        )
        self.connect_timeout = self.deadlines.connect
        self.stall_timeout = self.deadlines.stall
        self.chunk_size = max(1, chunk_size)
        self.monolithic_limit = monolithic_limit
        self._credentials = credentials
        self._plain_http = plain_http
        self._auth: RegistryAuth | None = None
        self._connect_lock = threading.Lock()
        self._local = threading.local()

    # -- connection and auth -------------------------------------------------------
    @property
    def scheme(self) -> str:
        return "http" if self._plain_http else "https"

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def _small(self) -> tuple[float, float]:
        return self.deadlines.small

    @property
    def _blob(self) -> tuple[float, float]:
        return (self.stall_timeout, self.stall_timeout)  # see the module's note

    def _session(self) -> requests.Session:
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = deadline_session(self.deadlines)
            self._local.session = session
        return session

    def _connect(self, repo: str) -> RegistryAuth:
        """Ping /v2/ once and learn, from its challenge, how this registry wants auth."""
        with self._connect_lock:
            if self._auth is not None:
                return self._auth
            challenge = self._retrying(repo, "reach", self._ping)
            if challenge.scheme == "basic" and self._credentials is None:
                raise RegistryAuthError(
                    f"registry {self.host} requires credentials for {repo}",
                    hint="set LEPTONCI_REGISTRY_USERNAME and LEPTONCI_REGISTRY_PASSWORD "
                    "or docker login",
                )
            self._auth = RegistryAuth(challenge, self._credentials, self._fetch_token)
            return self._auth

    def _ping(self) -> Challenge:
        response = self._session().get(f"{self.base_url}/v2/", timeout=self._small)
        if response.status_code >= 500:
            raise ServerError(f"GET /v2/ answered {response.status_code}")
        if response.status_code == 401:
            return parse_challenge(response.headers.get("WWW-Authenticate", "Bearer"))
        return Challenge("", {})

    def _fetch_token(
        self, url: str, params: list[tuple[str, str]], auth: tuple[str, str] | None
    ) -> requests.Response:
        response = self._session().get(url, params=params, auth=auth, timeout=self._small)
        if response.status_code >= 500:
            raise ServerError(f"the token service answered {response.status_code}")
        return response

    def request(
        self,
        method: str,
        url: str,
        *,
        scopes: tuple[Scope, ...],
        headers: dict[str, str] | None = None,
        data: Any = None,
        stream: bool = False,
        timeout: tuple[float, float] | None = None,
    ) -> requests.Response:
        """One request with auth; a 401 is answered once (a body that is an iterator
        cannot be sent twice, so callers send those only once they hold a token)."""
        auth = self._connect(scopes[0][0])
        headers = dict(headers or {})
        header = auth.header(scopes)
        if header:
            headers["Authorization"] = header
        send = self._session().request
        kwargs: dict[str, Any] = {"data": data, "stream": stream, "timeout": timeout or self._small}
        response = send(method, url, headers=headers, **kwargs)
        if response.status_code == 401 and not auth.basic and _replayable(data):
            header = auth.answer(response, scopes)
            if header:
                response.close()
                headers["Authorization"] = header
                response = send(method, url, headers=headers, **kwargs)
        if response.status_code >= 500:
            response.close()
            raise ServerError(f"{method} answered {response.status_code} {response.reason}")
        if response.status_code in (401, 403):
            response.close()
            raise RegistryAuthError(f"{method} answered {response.status_code}")
        return response

    def _retrying(self, repo: str, what: str, call: Callable[[], T]) -> T:
        def once() -> T:
            try:
                return call()
            except RegistryAuthError:
                raise self.auth_error(repo) from None

        return retry_call(
            once,
            what=f"{what} {repo} on {self.host}",
            schedule=self.retry,
            retry_if=lambda exc: isinstance(exc, TRANSIENT),
            give_up=lambda last, tries: self.gave_up(repo, what, describe(last), tries),
            deadline=self.deadlines.give_up,
        )

    def auth_error(self, repo: str) -> RegistryAuthError:
        if self._credentials is None:
            return RegistryAuthError(
                f"registry {self.host} requires credentials for {repo}",
                hint="set LEPTONCI_REGISTRY_USERNAME and LEPTONCI_REGISTRY_PASSWORD "
                "or docker login",
            )
        return RegistryAuthError(
            f"registry refused credentials for {self.host}/{repo}",
            hint="check LEPTONCI_REGISTRY_USERNAME/PASSWORD or your docker login",
        )

    def gave_up(self, repo: str, what: str, last: str, tries: int | None = None) -> RegistryError:
        return RegistryError(
            redact(
                f"registry {self.host} failed to {what} {repo} after "
                f"{tries or self.retry.attempts} tries: {last}"
            ),
            hint="check that the registry is up and reachable, then run again",
        )

    def _url(self, repo: str, kind: str, ref: str) -> str:
        return f"{self.base_url}/v2/{repo}/{kind}/{ref}"


def _replayable(data: Any) -> bool:
    return data is None or isinstance(data, bytes | str)


def error_text(response: requests.Response) -> str:
    """The registry's error body as one short, redacted line."""
    try:
        errors = response.json().get("errors") or []
        return excerpt("; ".join(str(e.get("message", e.get("code", ""))) for e in errors))
    except (ValueError, AttributeError, TypeError):  # not the distribution spec's shape
        return excerpt(response.text)
