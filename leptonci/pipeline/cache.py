"""The local training cache: the content hash that keys it, its entries, atomic renames.

``CACHE/MODEL/HEX/`` holds one candidate (docs/training.md). The key is a content hash
over the model folder's files, the model's config entry (without ``train``: where a
model trains is not one of its inputs; nor ``parity``: how verify compares), the ML library versions and leptonci's. Every
entry is written to a temporary folder first and renamed into place.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import leptonci
from leptonci.adapters import training
from leptonci.core.candidate import METRICS_FILE, Candidate, load_candidate
from leptonci.core.errors import ConfigError
from leptonci.core.files import read_text, write_atomic
from leptonci.core.image_config import UNHASHED_IMAGE_KEYS
from leptonci.core.training_contract import content_hash, skip_path
from leptonci.runtime.context import Context

TRAINED_FILE = "trained.json"  # cache bookkeeping next to metrics.json: when, by whom


def model_files(ctx: Context, model: str) -> list[tuple[str, Path]]:
    """The files of the model's folder the hash covers: (posix path inside it, path)."""
    config = ctx.config.model(model)
    folder = ctx.root / config.path
    if not folder.is_dir():
        raise ConfigError(f"model folder {config.path} not found", key=f"models.{model}.path")
    return folder_files(folder)


def folder_files(folder: Path) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if path.is_file() and not skip_path(rel.parts):
            out.append((rel.as_posix(), path))
    return out


def hashed_config(ctx: Context, model: str) -> dict[str, Any]:
    """The model's config entry as the content hash reads it."""
    exclude: dict[str, Any] = {"train": True, "parity": True, "image": set(UNHASHED_IMAGE_KEYS)}
    return ctx.config.model(model).model_dump(mode="json", exclude=exclude)


def hash_of(
    files: list[tuple[str, Path]],
    model_config: Mapping[str, Any],
    library_versions: Mapping[str, str],
) -> str:
    return content_hash(
        files=[(rel, file_sha256(path)) for rel, path in files],
        model_config=model_config,
        leptonci_version=leptonci.__version__,
        library_versions=library_versions,
    )


def model_content_hash(ctx: Context, model: str) -> str:
    """The cache key for model: its folder's files, config entry, library versions."""
    return hash_of(model_files(ctx, model), hashed_config(ctx, model), training.library_versions())


def cache_entry(ctx: Context, model: str, key: str) -> Path:
    return ctx.cache_dir / model / key.split(":", 1)[-1]


def cached_candidate(ctx: Context, model: str, key: str) -> Candidate | None:
    """The cached candidate for key, or None when there is no complete entry."""
    entry = cache_entry(ctx, model, key)
    metrics_file = entry / METRICS_FILE
    if not metrics_file.is_file():
        return None
    try:
        candidate = load_candidate(metrics_file, cached=True)
    except ConfigError:
        return None  # a damaged entry is a miss; training replaces it
    if candidate.content_hash != key or not (candidate.export_dir / "saved_model.pb").is_file():
        return None
    return candidate


def new_tmp(ctx: Context, model: str) -> Path:
    """A fresh temporary folder beside the model's cache entries (same filesystem)."""
    parent = ctx.cache_dir / model
    parent.mkdir(parents=True, exist_ok=True)
    tmp = parent / f".tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    return tmp


def write_trained(root: Path, *, trained_at: str, by: str) -> None:
    write_atomic(
        root / TRAINED_FILE, json.dumps({"trained_at": trained_at, "by": by}, sort_keys=True) + "\n"
    )


def trained_info(root: Path) -> tuple[str, str]:
    """(when, by whom) a cached candidate was trained; "" where unknown."""
    try:
        data = json.loads(read_text(root / TRAINED_FILE))
        return str(data.get("trained_at") or ""), str(data.get("by") or "")
    except (OSError, ValueError, AttributeError, ConfigError):
        return "", ""


def replace_dir(src: Path, dest: Path) -> None:
    """Rename src to dest; an existing dest is moved aside first, then deleted."""
    trash: Path | None = None
    if dest.exists():
        trash = dest.parent / f".old-{dest.name}-{uuid.uuid4().hex[:12]}"
        dest.rename(trash)
    src.rename(dest)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def with_root(candidate: Candidate, root: Path, *, cached: bool) -> Candidate:
    return replace(candidate, root=root, cached=cached)


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
