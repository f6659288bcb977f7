"""The training contract, pure parts: hook names, effective params and the cache key.

A model folder holds ``train.py`` with ``load_data(params)`` and ``build_model(params)``
and optionally ``fit(model, data, params, callbacks)`` and
``evaluate(model, data, params)`` (docs/training.md). This module names those
hooks and computes the content hash that keys the training cache from digests that
the caller has already read; it reads no file and imports no ML library.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from typing import Any

TRAIN_FILE = "train.py"
REQUIRED_HOOKS: Mapping[str, str] = {
    "load_data": "load_data(params)",
    "build_model": "build_model(params)",
}
OPTIONAL_HOOKS: Mapping[str, str] = {
    "fit": "fit(model, data, params, callbacks)",
    "evaluate": "evaluate(model, data, params)",
}
DEFAULT_SEED = 1234
EXPORT_VERSION = 1  # the TF Serving version folder; one model per image, so always 1
CACHE_KEY_SCHEME = "leptonci-train-v1"
SKIP_DIRS = frozenset({"__pycache__"})
SKIP_SUFFIXES = (".pyc", ".pyo")
# Libraries whose versions change what training produces; part of the cache key.
LIBRARIES = ("tensorflow", "keras", "numpy", "scikit-learn")


def effective_params(config_params: Mapping[str, Any]) -> dict[str, Any]:
    """The params train.py sees: the config's, plus a seed when none is set."""
    params = dict(config_params)
    params.setdefault("seed", DEFAULT_SEED)
    return params


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no spaces: the same data always gives the same text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def skip_path(parts: Iterable[str]) -> bool:
    """Whether a file (given as its path parts inside the model folder) is left out."""
    parts = tuple(parts)
    return any(p in SKIP_DIRS for p in parts) or parts[-1].endswith(SKIP_SUFFIXES)


def content_hash(
    *,
    files: Iterable[tuple[str, str]],
    model_config: Mapping[str, Any],
    leptonci_version: str,
    library_versions: Mapping[str, str],
) -> str:
    """The cache key: sha256 over the model folder's files and everything else training reads.

    ``files`` are (path relative to the model folder with '/' separators, sha256 hex of
    the bytes); their order does not matter.
    """
    h = hashlib.sha256()

    def feed(label: str, text: str) -> None:
        data = text.encode()
        h.update(f"{label}\0{len(data)}\0".encode())
        h.update(data)

    feed("scheme", CACHE_KEY_SCHEME)
    feed("leptonci", leptonci_version)
    feed("config", canonical_json(model_config))
    feed("libraries", canonical_json(dict(library_versions)))
    for rel, digest in sorted(files):
        feed("file", f"{rel}\0{digest}")
    return "sha256:" + h.hexdigest()


def candidate_label(model: str, content_hash: str) -> str:
    """A short human name for a candidate: digits-0123abcd4567."""
    return f"{model}-{content_hash.split(':', 1)[-1][:12]}"


def candidate_tag(model: str, content_hash: str) -> str:
    """The candidate's tag in the shared training cache: MODEL-HEX (the whole hash)."""
    return f"{model}-{content_hash.split(':', 1)[-1]}"
