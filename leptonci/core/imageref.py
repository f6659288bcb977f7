"""Image references: the one parser and printer of ``[HOST[:PORT]/]PATH[:TAG][@DIGEST]``.

The grammar is Docker's and OCI's: a first component holding '.' or ':' (or equal to
``localhost``) is the registry host, the rest is a lower-case path whose components are
joined by '.', '_', '__' or dashes; a tag is ASCII ``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``;
a digest is ``sha256:`` and 64 lower-case hex digits (or ``sha512:`` and 128). No
defaults are filled in here: Docker Hub's ``library/`` belongs to whoever pulls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from leptonci.core.errors import ConfigError

_HOST_PART = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_HOST_RE = re.compile(rf"(?:{_HOST_PART}(?:\.{_HOST_PART})*|\[[0-9A-Fa-f:]+\])(?::[0-9]+)?")
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_PATH_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}|sha512:[0-9a-f]{128}")
NAME_MAX = 255  # registry host and path together, as Docker counts them

HINTS = {
    "host": "write the registry as HOST[:PORT], e.g. ghcr.io or 127.0.0.1:5000",
    "repository": "use a lower-case path such as 'team/model'",
    "tag": "use letters, digits, '_', '.', '-' (at most 128, not starting with '.' or '-')",
    "digest": "use 'sha256:' and 64 lowercase hex digits, as the registry returned it",
}


def is_host(text: str) -> bool:
    """``HOST[:PORT]``: DNS labels, an IPv4 address or a bracketed IPv6 one."""
    return _HOST_RE.fullmatch(text) is not None


def is_repository(text: str) -> bool:
    """A lower-case repository path such as ``team/model`` (no host, tag or digest)."""
    return _PATH_RE.fullmatch(text) is not None


def is_tag(text: str) -> bool:
    return _TAG_RE.fullmatch(text) is not None


def is_digest(text: str) -> bool:
    return _DIGEST_RE.fullmatch(text) is not None


def split_ref(text: str) -> tuple[str, str | None, str | None]:
    """``name[:tag][@digest]`` -> (name, tag, digest), by position only; never raises.

    For values found in manifests, which may hold placeholders: the name of
    ``leptonci/digits:${TAG}`` is still ``leptonci/digits``. ``ImageRef.parse`` checks.
    """
    name, at, digest = text.partition("@")
    tag = None
    colon, slash = name.rfind(":"), name.rfind("/")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    return name, tag, (digest if at else None)


def _reads_as_host(component: str) -> bool:
    """Docker's rule for the first of several components: is it the registry host?"""
    return "." in component or ":" in component or component == "localhost"


@dataclass(frozen=True)
class ImageRef:
    """A valid image reference; ``registry`` is None when the text names no host."""

    registry: str | None
    repository: str
    tag: str | None = None
    digest: str | None = None

    def __post_init__(self) -> None:
        if self.registry is not None and not is_host(self.registry):
            raise ConfigError(f"bad registry host {self.registry!r}", hint=HINTS["host"])
        if not is_repository(self.repository):
            raise ConfigError(f"bad repository path {self.repository!r}", hint=HINTS["repository"])
        first, slash, _ = self.repository.partition("/")
        if self.registry is None and slash and _reads_as_host(first):
            # Written out, this path's first component would be read back as the host.
            raise ConfigError(
                f"repository path {self.repository!r} starts with a host name",
                hint=f"give {first!r} as the registry",
            )
        if len(self.name) > NAME_MAX:
            raise ConfigError(
                f"image name is {len(self.name)} characters, more than {NAME_MAX}",
                hint="use a shorter repository path",
            )
        if self.tag is not None and not is_tag(self.tag):
            raise ConfigError(f"bad tag {self.tag!r}", hint=HINTS["tag"])
        if self.digest is not None and not is_digest(self.digest):
            raise ConfigError(f"bad digest {self.digest!r}", hint=HINTS["digest"])

    @classmethod
    def parse(cls, text: str) -> ImageRef:
        """The reference ``text`` spells; ConfigError saying which part is wrong."""
        name, tag, digest = split_ref(text)
        first, slash, rest = name.partition("/")
        registry, repository = (first, rest) if slash and _reads_as_host(first) else (None, name)
        try:
            return cls(registry, repository, tag, digest)
        except ConfigError as exc:
            raise ConfigError(
                f"{text!r} is not a valid image reference ({exc.message})", hint=exc.hint
            ) from None

    @property
    def name(self) -> str:
        """The reference without tag or digest: ``[HOST/]PATH``."""
        return self.repository if self.registry is None else f"{self.registry}/{self.repository}"

    def format(self) -> str:
        tag = "" if self.tag is None else f":{self.tag}"
        digest = "" if self.digest is None else f"@{self.digest}"
        return f"{self.name}{tag}{digest}"

    def __str__(self) -> str:
        return self.format()


def short_digest(digest: str | None) -> str:
    """A digest for people to read: ``sha256:`` and the first 12 hex digits; "-" for none."""
    if not digest:
        return "-"
    algo, _, hexpart = digest.partition(":")
    return f"{algo}:{hexpart[:12]}" if hexpart else digest[:19]
