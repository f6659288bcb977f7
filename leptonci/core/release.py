"""Release identity: content-derived, so rebuilding the same model gives the same id."""

from __future__ import annotations

import re

RELEASE_RE = re.compile(r"^[a-z0-9-]+-[0-9a-f]{12}$")


def release_id(model: str, content_hash: str) -> str:
    """`MODEL-HASH12`, from the model's content hash (code, config, data, leptonci)."""
    digest = content_hash.split(":", 1)[-1]
    return f"{model}-{digest[:12]}"


def is_release_id(text: str) -> bool:
    return bool(RELEASE_RE.match(text))
