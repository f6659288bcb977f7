"""The one redaction helper every output path goes through.

Two layers. Known secrets (registered where they are learned: tokens, registry
passwords, kubeconfig credentials, credentials in git remote URLs) are masked in every
encoding they travel in: plain, base64 of the value and of ``user:password`` (standard
and URL-safe alphabets, with and without padding, UTF-8 and Latin-1), percent-encoded
(``quote`` and ``quote_plus`` styles, either hex case), JSON- and HTML-escaped, and any
base64 run that decodes to text holding one of them. Patterns then catch secrets that
were never registered: ``Basic``/``Bearer`` credentials, Authorization headers,
credentials in URLs, GitHub token shapes, ``password=`` style assignments.

``excerpt`` is how an outside system's text (an error body, a command's stderr) enters a
message: one short line, redacted. ``announce_masks`` lets the output sink hear of each
secret once, as it is registered, so GitHub Actions can mask it in its logs.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Iterable, Iterator
from urllib.parse import quote, unquote

MASK = "***"
_MIN_LENGTH = 4  # shorter values would mask ordinary words
_BODY_LIMIT = 1 << 20  # an excerpt never looks further into a body than this


class _Registry:
    """What redaction knows: the registered secrets, their pattern, who hears of them."""

    def __init__(self) -> None:
        self.forms: set[str] = set()  # each secret and its base64 forms, plain text
        self.shortest = 0  # byte length of the shortest secret (0: none registered)
        self.pattern: re.Pattern[str] | None = None
        self.stale = False
        self.runs: dict[str, bool] = {}  # base64 run -> holds a secret (for this pattern)
        self.announce: Callable[[str], None] | None = None
        self.announced: set[str] = set()

    def add(self, forms: Iterable[str], announce: Iterable[str]) -> None:
        new = {f for f in forms if len(f) >= _MIN_LENGTH} - self.forms
        if new:
            self.forms |= new
            lengths = [len(f.encode()) for f in new]
            self.shortest = min([self.shortest, *lengths]) if self.shortest else min(lengths)
            self.stale = True
        if self.announce is None:
            return
        for value in announce:
            for line in value.splitlines():
                if len(line) >= _MIN_LENGTH and line not in self.announced:
                    self.announced.add(line)
                    self.announce(line)

    def compiled(self) -> re.Pattern[str] | None:
        if self.stale:
            # One alternation, longest first, rebuilt only when the set changes: redact()
            # runs on every output line, so it must cost one scan per line.
            # Alternatives are grouped by their first character, so each position of the
            # text is tried against one branch per distinct first character, not per form.
            groups: dict[str, list[str]] = {}
            for form in sorted(self.forms, key=lambda f: (-len(f), f)):
                groups.setdefault(form[0], []).append(_any_escaping(form[1:]))
            self.pattern = re.compile(
                "|".join(
                    f"{_any_escaping(first)}(?:{'|'.join(rests)})"
                    for first, rests in groups.items()
                )
            )
            self.runs = {}
            self.stale = False
        return self.pattern


_registry = _Registry()


def register_secret(value: str | None) -> None:
    """Remember a secret so that it is masked wherever, and however encoded, it shows up."""
    if not value or len(value) < _MIN_LENGTH:
        return
    _registry.add([value, *_base64_forms(value)], [value])


def register_secrets(values: Iterable[str | None]) -> None:
    for value in values:
        register_secret(value)


def register_credentials(username: str | None, password: str | None) -> None:
    """Remember a password and the ``user:password`` pair it is sent in.

    Basic auth and Docker config ``auth`` fields carry base64 of the pair; a base64
    fragment of the password alone depends on the username's length, so only the
    pair's own encodings are certain to be found.
    """
    register_secret(password)
    if not username or not password or len(password) < _MIN_LENGTH:
        return
    pair = f"{username}:{password}"
    forms = _base64_forms(pair)
    _registry.add(forms, [f.rstrip("=") for f in forms[:2]])


def register_url_credentials(text: str | None) -> None:
    """Remember the passwords written into URLs (``https://user:password@host/...``)."""
    for match in _URL_USERINFO.finditer(text or ""):
        user, colon, password = match.group(1).partition(":")
        if colon and password:
            register_credentials(unquote(user), unquote(password))


def announce_masks(write: Callable[[str], None] | None) -> None:
    """Send each secret registered from now on to write, once (None: stop).

    The GitHub Actions output passes write: it prints ``::add-mask::VALUE``, so the
    runner masks the value in every later log line. A new listener starts afresh.
    """
    _registry.announce = write
    _registry.announced = set()


def redact(text: str) -> str:
    """Return text with every known secret and every secret-shaped string masked."""
    if not text:
        return text
    pattern = _registry.compiled()
    if pattern is not None:
        # whole base64 blobs first: masking a secret inside one first would cut it apart
        text = _BASE64_RUN.sub(_mask_encoded_run, text)
        text = pattern.sub(MASK, text)
    lowered = text.lower()
    for needles, secret_shape, replacement in _PATTERNS:
        if any(needle in lowered for needle in needles):
            text = secret_shape.sub(replacement, text)
    return text


def redact_obj(value: object) -> object:
    """Redact every string inside a JSON-like structure."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: redact_obj(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact_obj(v) for v in value]
    return value


def excerpt(text: str | bytes | None, limit: int = 200, *, tail: bool = False) -> str:
    """An outside system's text as it may enter a message: one redacted line, cut short.

    Redaction runs before the cut, so a secret that straddles the limit leaves no
    fragment behind. ``tail`` keeps the end instead (the last lines of a stderr).
    """
    if not text:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = text[-_BODY_LIMIT:] if tail else text[:_BODY_LIMIT]
    line = redact(" ".join(redact(text).split()))
    if len(line) <= limit:
        return line
    return "..." + line[3 - limit :] if tail else line[: limit - 3] + "..."


# -- encodings -------------------------------------------------------------------------


def _base64_forms(value: str) -> list[str]:
    """Base64 of value: standard then URL-safe, padded, for UTF-8 and Latin-1 bytes."""
    encodings = [value.encode()]
    try:
        latin = value.encode("latin-1")  # what requests' HTTPBasicAuth sends
    except UnicodeEncodeError:
        latin = encodings[0]
    if latin != encodings[0]:
        encodings.append(latin)
    forms: list[str] = []
    for raw in encodings:
        forms += [base64.b64encode(raw).decode(), base64.urlsafe_b64encode(raw).decode()]
    # unpadded forms are prefixes of the padded ones: the alternation tries longest first
    return forms + [f.rstrip("=") for f in forms]


_JSON_EXTRA = {"/": ["\\/"]}
_HTML = {"&": ["&amp;"], "<": ["&lt;"], ">": ["&gt;"], '"': ["&quot;", "&#34;"], "'": ["&#39;"]}


def _any_escaping(form: str) -> str:
    """A regex for form where each character may also be percent-, JSON- or HTML-escaped."""
    out = []
    for char in form:
        alternatives = [re.escape(char)]
        encoded = quote(char, safe="")
        if encoded != char:
            alternatives.append(f"(?i:{re.escape(encoded)})")
        if char == " ":
            alternatives.append(r"\+")
        for escaped in (json.dumps(char)[1:-1], *_JSON_EXTRA.get(char, ())):
            if escaped != char:
                alternatives.append(f"(?i:{re.escape(escaped)})")
        alternatives += [re.escape(h) for h in _HTML.get(char, ())]
        out.append(alternatives[0] if len(alternatives) == 1 else f"(?:{'|'.join(alternatives)})")
    return "".join(out)


_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_-]{6,}={0,2}")
_HEX = re.compile(r"[0-9a-f]+")
_URLSAFE = str.maketrans("-_", "+/")


def _decodings(run: str) -> Iterator[str]:
    """run decoded at each of the four alignments a base64 blob inside it may start at."""
    body = run.rstrip("=").translate(_URLSAFE)
    for shift in range(4):
        part = body[shift:]
        part = part[: len(part) - 1] if len(part) % 4 == 1 else part
        if len(part) < 2:
            return
        try:
            raw = base64.b64decode(part + "=" * (-len(part) % 4))
        except (binascii.Error, ValueError):
            continue
        yield raw.decode("utf-8", "replace")


def _mask_encoded_run(match: re.Match[str]) -> str:
    run = match.group()
    pattern, seen = _registry.pattern, _registry.runs
    if pattern is None or len(run) * 3 < _registry.shortest * 4 or _HEX.fullmatch(run):
        return run  # too short to hold a secret, or a digest (base64 of text is not all hex)
    if run not in seen:
        if len(seen) > 4096:  # paths and digests repeat from line to line; keep it bounded
            seen.clear()
        seen[run] = any(pattern.search(decoded) for decoded in _decodings(run))
    return MASK if seen[run] else run


# -- shapes of secrets nobody registered -----------------------------------------------

# scheme://user:password@host: the userinfo runs to the last '@' before the path
_URL_USERINFO = re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://([^\s/?#]*)@")

# (needles, pattern, replacement): a pattern runs only on text that holds a needle
_PATTERNS: tuple[tuple[tuple[str, ...], re.Pattern[str], str], ...] = (
    # Basic / Bearer credentials, header or not: the whole value after the scheme, up to
    # whitespace or a quote; prose ("basic auth", "basic settings") and challenges
    # (`Bearer realm=`) stay
    (
        ("basic", "bearer"),
        re.compile(
            r"\b((?i:basic|bearer))(\s+)"
            r"(?!(?i:auth\w*|realm|token|credentials?|scheme|challenge|header)\b)"
            r"(?=[^\s\"'\\]*[A-Z0-9+/=])[^\s\"'\\]{6,}"
        ),
        r"\1\2" + MASK,
    ),
    # Authorization / Proxy-Authorization headers, any scheme, quoted keys too (JSON)
    (
        ("authorization",),
        re.compile(r"(?i)((?:proxy-)?authorization[\"']?\s*[:=]\s*[\[\"']*)(\w+\s+)?[^\s\"'\\]+"),
        r"\1\2" + MASK,
    ),
    # user:password@ in URLs
    (
        ("://",),
        re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/?#:@]*:)[^\s/?#]*@"),
        r"\1" + MASK + "@",
    ),
    # GitHub tokens (classic, fine-grained, app, OAuth)
    (
        ("gh", "github_pat_"),
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})\b"),
        MASK,
    ),
    # key: value / key=value for secret-looking keys (JSON, YAML, CLI flags, env)
    (
        ("pass", "secret", "token", "auth", "keydata", "key-data", "key_data", "certificate"),
        re.compile(
            r"(?i)([\"']?\b(?:[a-z0-9]+[_-])*(?:password|passwd|secret|token|access[_-]?token|auth|"
            r"client[_-]?key[_-]?data|client[_-]?certificate[_-]?data|identitytoken|"
            r"registrytoken)[\"']?\s*[:=]\s*[\"']?)([^\s\"',}]+)"
        ),
        r"\1" + MASK,
    ),
    # --password VALUE / -p VALUE style flags
    (("--",), re.compile(r"(--password(?:-stdin)?|--token)(\s+)(?!-)\S+"), r"\1\2" + MASK),
)
