"""Moving built images: to a registry, into an OCI layout, and base images from a registry.

Every blob is checked before it is sent (HEAD, or a file test for a layout), so pushing
an image the destination already holds transfers no layer bytes. The digest reported
is always read back from the destination after the push, never taken from a tag.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from leptonci.adapters.images.daemonless import (
    BaseImage,
    ImageArtifact,
    parse_base_manifest,
    pick_platform,
)
from leptonci.adapters.images.layout import Descriptor, OciLayout
from leptonci.adapters.images.registry import RegistryClient
from leptonci.core.errors import RegistryError
from leptonci.core.images import INDEX_TYPES, BaseRef

# progress(total_bytes) -> advance(amount) callback, and a close callback
ProgressFactory = Callable[[int], tuple[Callable[[int], None], Callable[[], None]]]


@dataclass(frozen=True)
class PushResult:
    digest: str  # read back from the destination
    bytes_sent: int  # blob bytes transferred (0 when everything was there)


def load_registry_base(ref: BaseRef, client: RegistryClient) -> BaseImage:
    where = str(ref)
    data, media_type = client.get_manifest(ref.repository, ref.reference)
    manifest = json.loads(data)
    if media_type in INDEX_TYPES or manifest.get("mediaType") in INDEX_TYPES:
        data, _ = client.get_manifest(ref.repository, pick_platform(manifest, where))
        manifest = json.loads(data)
    config, layers = parse_base_manifest(
        manifest, where, lambda digest: client.get_blob_bytes(ref.repository, digest)
    )

    def fetch(blob: Descriptor, store: OciLayout) -> None:
        client.download_blob(ref.repository, blob, store.writer())

    return BaseImage(ref, config, layers, fetch)


def _ensure_local(artifact: ImageArtifact, store: OciLayout, blob: Descriptor) -> None:
    if store.has_blob(blob.digest):
        return
    if artifact.base is None or blob not in artifact.base.layers:
        raise RegistryError(
            f"blob {blob.digest[:19]} is missing from the build store {store.root}",
            hint="build the image again (the cache may have been pruned)",
        )
    artifact.base.fetch(blob, store)


def push_to_registry(
    artifact: ImageArtifact,
    *,
    store: OciLayout,
    client: RegistryClient,
    repo: str,
    tags: tuple[str, ...],
    progress: ProgressFactory | None = None,
) -> PushResult:
    """Push blobs (skipping those present), then the manifest under each tag."""
    sent_before = client.bytes_sent
    missing = [b for b in artifact.blobs if not client.has_blob(repo, b.digest)]
    total = sum(b.size for b in missing)
    advance, close = progress(total) if progress and total else (None, None)
    client.on_sent = advance
    try:
        for blob in missing:
            _ensure_local(artifact, store, blob)
            client.upload_blob(repo, str(store.blob_path(blob.digest)), blob)
    finally:
        client.on_sent = None
        if close is not None:
            close()
    for tag in tags:
        if client.manifest_digest(repo, tag) != artifact.digest:
            client.put_manifest(repo, tag, artifact.manifest, artifact.media_type)
    digest = client.manifest_digest(repo, tags[0])
    if digest != artifact.digest:
        raise RegistryError(
            f"registry {client.host} reports {digest} for {repo}:{tags[0]}, "
            f"expected {artifact.digest}",
            hint="another push raced this one; run again",
        )
    return PushResult(digest, client.bytes_sent - sent_before)


def push_to_layout(
    artifact: ImageArtifact,
    *,
    store: OciLayout,
    layout: OciLayout,
    tags: tuple[str, ...],
    progress: ProgressFactory | None = None,
) -> PushResult:
    """Copy the image into an OCI layout folder and tag it in index.json."""
    missing = [b for b in artifact.blobs if not layout.has_blob(b.digest)]
    total = sum(b.size for b in missing)
    advance, close = progress(total) if progress and total else (None, None)
    sent = 0
    try:
        for blob in missing:
            _ensure_local(artifact, store, blob)
            written = layout.put_file(store.blob_path(blob.digest), blob.digest)
            sent += written
            if advance is not None:
                advance(written)
    finally:
        if close is not None:
            close()
    digest, _ = layout.put_bytes(artifact.manifest)
    desc = Descriptor(artifact.media_type, digest, len(artifact.manifest))
    layout.tag(desc, tags)
    found = layout.resolve(tags[0])
    if found is None or found.digest != artifact.digest:
        raise RegistryError(f"layout {layout.root} did not record {tags[0]} -> {artifact.digest}")
    return PushResult(found.digest, sent)
