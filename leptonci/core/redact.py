"""The one redaction helper every output path goes through.

Two layers: known secret values (registered when they are read: tokens, registry
passwords, kubeconfig credentials) are replaced wherever they appear, and patterns
catch secrets that were never registered (Authorization headers, credentials in URLs,
GitHub token shapes, ``password=`` style assignments).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable

MASK = "***"

_secrets: set[str] = set()

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization / Proxy-Authorization headers, any scheme
    (re.compile(r"(?i)((?:proxy-)?authorization\s*[:=]\s*)(\w+\s+)?[^\s,'\"}]+"), r"\1\2" + MASK),
    # user:password@ in URLs
    (re.compile(r"(?i)([a-z][a-z0-9+.-]*://[^/\s:@]+:)[^@\s/]+@"), r"\1" + MASK + "@"),
    # GitHub tokens (classic, fine-grained, app, OAuth)
    (re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})\b"), MASK),
    # key: value / key=value for secret-looking keys (JSON, YAML, CLI flags, env)
    (
        re.compile(
            r"(?i)([\"']?\b(?:[a-z0-9]+[_-])*(?:password|passwd|secret|token|access[_-]?token|auth|"
            r"client[_-]?key[_-]?data|client[_-]?certificate[_-]?data|identitytoken|"
            r"registrytoken)[\"']?\s*[:=]\s*[\"']?)([^\s\"',}]+)"
        ),
        r"\1" + MASK,
    ),
    # --password VALUE / -p VALUE style flags
    (re.compile(r"(--password(?:-stdin)?|--token)(\s+)(?!-)\S+"), r"\1\2" + MASK),
)


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is masked wherever it shows up later."""
    if not value or len(value) < 4:
        return
    _secrets.add(value)
    # Basic auth and docker config carry base64 of "user:password"; mask those forms too.
    try:
        _secrets.add(base64.b64encode(value.encode()).decode())
    except (UnicodeError, ValueError):
        pass


def registered() -> frozenset[str]:
    """Every secret value registered so far (what GitHub Actions is told to mask)."""
    return frozenset(_secrets)


def register_secrets(values: Iterable[str | None]) -> None:
    for value in values:
        register_secret(value)


def redact(text: str) -> str:
    """Return text with every known secret and every secret-shaped string masked."""
    if not text:
        return text
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
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
