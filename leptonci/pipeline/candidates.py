"""The shared training cache: candidates published to the registry, looked up by hash.

The store is ``REGISTRY/leptonci-candidates`` in the configured registry, or
``DIR/leptonci-candidates`` with an ``oci-layout:DIR`` registry (the embedded default;
shared when DIR is). ``fetch_into_cache`` brings a stored candidate into the local
cache, verified blob by blob and renamed into place; ``publish`` pushes one. Where a
command only looks for a shortcut (a lookup before training, a publish after it), a
store that cannot be reached is a warning, never the command's failure.
"""

from __future__ import annotations

import shutil

from leptonci.adapters.images.candidates import (
    REPOSITORY,
    CandidateStore,
    LayoutCandidates,
    RegistryCandidates,
    StoredCandidate,
    annotations_for,
)
from leptonci.adapters.images.layout import OciLayout
from leptonci.core.candidate import METRICS_FILE, Candidate, load_candidate
from leptonci.core.errors import ConfigError, RegistryError
from leptonci.core.images import LAYOUT_PREFIX, parse_destination
from leptonci.core.training_contract import candidate_label, candidate_tag
from leptonci.pipeline.cache import cache_entry, new_tmp, replace_dir, write_trained
from leptonci.runtime.context import Context
from leptonci.runtime.images import registry_client


def store_for(ctx: Context, registry: str) -> CandidateStore:
    """The candidate store of a registry setting (HOST/NAMESPACE or oci-layout:DIR)."""
    dest = parse_destination(registry)
    if dest.kind == "layout":
        folder = ctx.root / dest.layout_dir / REPOSITORY
        return LayoutCandidates(
            OciLayout(folder), label=f"{LAYOUT_PREFIX}{dest.layout_dir}/{REPOSITORY}"
        )
    return RegistryCandidates(
        lambda: registry_client(ctx, dest.host), dest.repository(REPOSITORY), host=dest.host
    )


def candidate_store(ctx: Context) -> CandidateStore:
    return store_for(ctx, ctx.config.registry)


def is_local(store: CandidateStore) -> bool:
    """A store on this machine's disk: asking it is no network I/O."""
    return isinstance(store, LayoutCandidates)


def look_up(ctx: Context, store: CandidateStore, model: str, key: str) -> StoredCandidate | None:
    """The stored candidate for key; a store that fails to answer is a warning and a miss."""
    try:
        return store.lookup(candidate_tag(model, key))
    except (RegistryError, ConfigError) as exc:
        ctx.out.warn(
            f"shared training cache {store.describe()}: {exc}; "
            f"training {candidate_label(model, key)} instead"
        )
        return None


def fetch_into_cache(
    ctx: Context, store: CandidateStore, stored: StoredCandidate, *, model: str, key: str
) -> Candidate:
    """Download stored into the local cache entry for key (verified) and return it."""
    tmp = new_tmp(ctx, model)
    final = cache_entry(ctx, model, key)
    try:
        store.fetch(stored, tmp, model=model, content_hash=key)
        write_trained(tmp, trained_at=stored.trained_at, by=stored.trained_by)
        candidate = load_candidate(tmp / METRICS_FILE, cached=True)
        if not (candidate.export_dir / "saved_model.pb").is_file():
            raise RegistryError(
                f"candidate {store.describe()}:{stored.tag} holds no "
                f"{model}/{candidate.version}/saved_model.pb"
            )
        replace_dir(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return load_candidate(final / METRICS_FILE, cached=True)


def publish(ctx: Context, store: CandidateStore, candidate: Candidate, *, by: str) -> str:
    """Push candidate to the store under its tag; returns the manifest digest."""
    return store.publish(
        candidate.root,
        tag=candidate_tag(candidate.model, candidate.content_hash),
        annotations=annotations_for(
            model=candidate.model,
            content_hash=candidate.content_hash,
            trained_at=ctx.now(),
            trained_by=by,
        ),
    )
