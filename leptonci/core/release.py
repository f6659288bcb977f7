"""Release identity: content-derived, so rebuilding the same model gives the same id."""

from __future__ import annotations


def release_id(model: str, content_hash: str) -> str:
    """`MODEL-HASH12`, from the model's content hash (code, config, data, leptonci)."""
    digest = content_hash.split(":", 1)[-1]
    return f"{model}-{digest[:12]}"
