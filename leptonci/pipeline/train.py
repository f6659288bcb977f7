"""`leptonci train MODEL`: train a model into a candidate, reusing the cache when it can.

The cache key is a content hash over the model folder, the model's config entry, the
ML library versions and leptonci's version. A hit reads the cached candidate without
importing TensorFlow. Every write goes to a temporary folder first and is renamed
into place, so an interrupted run never leaves a half-written candidate.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Any

import leptonci
from leptonci.adapters import training
from leptonci.core.candidate import METRICS_FILE, Candidate, load_candidate
from leptonci.core.errors import ConfigError
from leptonci.core.training_contract import (
    EXPORT_VERSION,
    candidate_label,
    content_hash,
    effective_params,
    skip_path,
)
from leptonci.runtime.context import Context

TRAINED_FILE = "trained.json"  # cache bookkeeping next to metrics.json: when, by whom


def model_content_hash(ctx: Context, model: str) -> str:
    """The cache key for model: its folder's files, config entry, library versions."""
    config = ctx.config.model(model)
    folder = ctx.root / config.path
    if not folder.is_dir():
        raise ConfigError(f"model folder {config.path} not found", key=f"models.{model}.path")
    files: list[tuple[str, str]] = []
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder)
        if not path.is_file() or skip_path(rel.parts):
            continue
        files.append((rel.as_posix(), _file_sha256(path)))
    return content_hash(
        files=files,
        model_config=config.model_dump(mode="json"),
        leptonci_version=leptonci.__version__,
        library_versions=training.library_versions(),
    )


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


def planned_candidate(ctx: Context, model: str) -> Candidate | None:
    """The candidate a run would use, without training: the cached one, or None."""
    return cached_candidate(ctx, model, model_content_hash(ctx, model))


def train_model(
    ctx: Context, *, model: str, out: Path | None = None, use_cache: bool = True
) -> Candidate:
    """Train model (or reuse its cached candidate) and return the candidate."""
    config = ctx.config.model(model)
    key = model_content_hash(ctx, model)
    label = candidate_label(model, key)
    candidate = cached_candidate(ctx, model, key) if use_cache else None
    if candidate is not None:
        when = _trained_at(candidate.root)
        ctx.out.info(f"cache hit: reusing candidate {label}" + (f" trained {when}" if when else ""))
    else:
        with ctx.out.step(f"train {model}"):
            candidate = _train_into_cache(ctx, model=model, key=key, params=config.params)
    if out is not None:
        candidate = _place(candidate, out)
    return candidate


def _train_into_cache(ctx: Context, *, model: str, key: str, params: dict[str, Any]) -> Candidate:
    config = ctx.config.model(model)
    folder = ctx.root / config.path
    full_params = effective_params(params)
    label = candidate_label(model, key)
    ctx.out.info(f"training {label} (params {json.dumps(full_params, sort_keys=True)})")
    final = cache_entry(ctx, model, key)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{uuid.uuid4().hex[:12]}"
    tmp.mkdir()
    started = time.perf_counter()
    epochs = full_params.get("epochs")
    bar = ctx.out.progress(
        int(epochs) if isinstance(epochs, int) else None, f"train {model}", unit="epochs"
    )

    def on_epoch(epoch: int, logs: dict[str, float] | Any) -> None:
        note = ", ".join(f"{k} {v:.3f}" for k, v in sorted(logs.items()))
        bar.advance(1, note=note)
        if ctx.out.github or not _is_tty(ctx):
            ctx.out.info(f"epoch {epoch}" + (f"/{epochs}" if epochs else "") + f": {note}")

    try:
        try:
            module = training.load_train_module(folder, model=model, display=config.path)
            outcome = training.train_and_export(
                module,
                params=full_params,
                export_dir=tmp / model / str(EXPORT_VERSION),
                display=config.path,
                on_epoch=on_epoch,
            )
        finally:
            bar.close()
        candidate = Candidate(
            model=model,
            version=EXPORT_VERSION,
            root=tmp,
            content_hash=key,
            metrics=outcome.metrics,
            eval_fingerprint=outcome.eval_fingerprint,
            eval_count=outcome.eval_count,
            params=full_params,
            versions=training.library_versions(),
            wall_seconds=time.perf_counter() - started,
        )
        candidate.write()
        (tmp / TRAINED_FILE).write_text(
            json.dumps({"trained_at": ctx.now(), "by": ctx.actor}, sort_keys=True) + "\n"
        )
        _replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _with_root(candidate, final, cached=False)


def _place(candidate: Candidate, out: Path) -> Candidate:
    """Copy the candidate folder to out (atomically); out must be new, empty or a candidate."""
    out = out.resolve()
    if out == candidate.root.resolve():
        return candidate
    if out.exists() and (
        not out.is_dir() or (any(out.iterdir()) and not (out / METRICS_FILE).is_file())
    ):
        raise ConfigError(
            f"--out {out} exists and is not a candidate folder",
            hint="pass a new or empty folder",
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:12]}"
    try:
        shutil.copytree(candidate.root, tmp)
        _replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return _with_root(candidate, out, cached=candidate.cached)


def _replace_dir(src: Path, dest: Path) -> None:
    """Rename src to dest; an existing dest is moved aside first, then deleted."""
    trash: Path | None = None
    if dest.exists():
        trash = dest.parent / f".old-{dest.name}-{uuid.uuid4().hex[:12]}"
        dest.rename(trash)
    src.rename(dest)
    if trash is not None:
        shutil.rmtree(trash, ignore_errors=True)


def _with_root(candidate: Candidate, root: Path, *, cached: bool) -> Candidate:
    return replace(candidate, root=root, cached=cached)


def _trained_at(root: Path) -> str:
    try:
        return str(json.loads((root / TRAINED_FILE).read_text()).get("trained_at") or "")
    except (OSError, ValueError, AttributeError):
        return ""


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _is_tty(ctx: Context) -> bool:
    try:
        return bool(ctx.out.stderr.isatty()) and not ctx.out.json_mode
    except (AttributeError, ValueError):
        return False
