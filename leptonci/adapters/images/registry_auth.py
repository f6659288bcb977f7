"""Registry authentication: the ``/v2/`` challenge, basic auth, bearer tokens per scope.

A registry says how it wants to be spoken to in the ``WWW-Authenticate`` header of a
401 from ``GET /v2/``. ``Basic``: the credentials go with every request, up front, so
no blob body is ever sent only to be refused. ``Bearer``: a token service (the
challenge's ``realm``) issues tokens for scopes such as ``repository:team/digits:pull``;
a token answers only for its scopes, so the token a HEAD got (pull) cannot open an
upload (push). Tokens are kept per scope, used up front when one covers a request, and
fetched again when a 401 names a scope (or an expiry) they do not cover. Anonymous
callers get what the service grants anonymous callers (a public pull).
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import requests

from leptonci.adapters.images.credentials import Credentials
from leptonci.core.errors import RegistryAuthError
from leptonci.core.redact import register_secret

_PARAM = re.compile(r'([A-Za-z_]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')
DEFAULT_TOKEN_SECONDS = 60  # the token spec's default when expires_in is absent

# (url, params, basic auth or None) -> response: the client's funnel (timeouts, 5xx)
TokenFetch = Callable[[str, list[tuple[str, str]], tuple[str, str] | None], requests.Response]
Scope = tuple[str, frozenset[str]]  # (repository name, actions)


@dataclass(frozen=True)
class Challenge:
    scheme: str  # "basic", "bearer", or "" when the registry wants no auth
    params: Mapping[str, str]

    @property
    def scopes(self) -> tuple[Scope, ...]:
        return tuple(parse_scope(s) for s in self.params.get("scope", "").split() if s)


def parse_challenge(header: str) -> Challenge:
    scheme, _, rest = header.strip().partition(" ")
    params = {m.group(1).lower(): m.group(2) or m.group(3) or "" for m in _PARAM.finditer(rest)}
    return Challenge(scheme.lower(), params)


def parse_scope(text: str) -> Scope:
    """``repository:NAME:ACTIONS`` (NAME may hold a port's colon) -> (NAME, actions)."""
    head, _, actions = text.rpartition(":")
    _, _, name = head.partition(":")
    return name, frozenset(a for a in actions.split(",") if a)


def basic_header(credentials: Credentials) -> str:
    pair = f"{credentials.username}:{credentials.password}".encode()
    return "Basic " + base64.b64encode(pair).decode()


@dataclass(frozen=True)
class _Token:
    value: str
    scopes: frozenset[Scope]
    expires: float  # time.monotonic()

    def covers(self, wanted: tuple[Scope, ...]) -> bool:
        return all(
            any(name == have_name and actions <= have for have_name, have in self.scopes)
            for name, actions in wanted
        )


class RegistryAuth:
    """The Authorization header for each request to one registry (thread-safe)."""

    def __init__(
        self, challenge: Challenge, credentials: Credentials | None, fetch: TokenFetch
    ) -> None:
        self.challenge = challenge
        self._credentials = credentials
        self._fetch = fetch
        self._tokens: list[_Token] = []
        self._lock = threading.Lock()

    @property
    def basic(self) -> bool:
        return self.challenge.scheme == "basic"

    def header(self, wanted: tuple[Scope, ...]) -> str | None:
        """What to send up front for a request needing these scopes (None: nothing)."""
        if self.basic and self._credentials is not None:
            return basic_header(self._credentials)
        if self.challenge.scheme != "bearer":
            return None
        now = time.monotonic()
        with self._lock:
            self._tokens = [t for t in self._tokens if t.expires > now]
            for token in reversed(self._tokens):
                if token.covers(wanted):
                    return f"Bearer {token.value}"
        return None

    def answer(self, response: requests.Response, wanted: tuple[Scope, ...]) -> str | None:
        """After a 401: a header worth trying once more, or None when there is none."""
        header = response.headers.get("WWW-Authenticate", "")
        challenge = parse_challenge(header) if header else self.challenge
        if challenge.scheme != "bearer":
            return None  # basic credentials were sent up front and refused
        scopes = challenge.scopes or wanted
        realm = challenge.params.get("realm") or self.challenge.params.get("realm")
        if not realm:
            raise RegistryAuthError("the registry's bearer challenge names no token service")
        params = [("service", challenge.params.get("service", ""))]
        params += [("scope", _scope_text(name, actions)) for name, actions in scopes]
        creds = self._credentials
        auth = (creds.username, creds.password) if creds is not None else None
        reply = self._fetch(realm, params, auth)  # a 5xx is raised there, as retryable
        if reply.status_code != 200:
            raise RegistryAuthError(f"the token service answered {reply.status_code}")
        try:
            data = reply.json()
            value = str(data.get("token") or data.get("access_token") or "")
            seconds = float(data.get("expires_in") or DEFAULT_TOKEN_SECONDS)
        except (ValueError, AttributeError, TypeError, OverflowError):
            raise RegistryAuthError("the token service sent no token") from None
        if not value:
            raise RegistryAuthError("the token service sent no token")
        register_secret(value)
        # expire a little early, so a token is not sent just as it lapses
        token = _Token(value, frozenset(scopes), time.monotonic() + max(0.0, seconds - 10))
        with self._lock:
            self._tokens.append(token)
        return f"Bearer {value}"


def _scope_text(name: str, actions: frozenset[str]) -> str:
    order: list[str] = [a for a in ("pull", "push", "delete") if a in actions]
    order += sorted(actions - set(order))
    return f"repository:{name}:{','.join(order)}"
