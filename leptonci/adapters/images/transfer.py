"""Moving built images: to a registry, into an OCI layout, and base images from a registry.

Every blob is checked before it is sent (HEAD, or a file test for a layout), so pushing
an image the destination already holds transfers no layer bytes; a base layer the same
registry holds in the base's own repository is mounted across, not sent. The blobs of
one image go up in parallel (``PARALLEL_BLOBS`` at a time). An image whose model layer
has not been read yet (``PendingImage``) streams it through the hash and out in one
pass; its config follows once the layer's digest is known. The digest reported is
always read back from the destination after the push, never taken from a tag.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from leptonci.adapters.images.daemonless import (
    BaseImage,
    ImageArtifact,
    PendingImage,
    parse_base_manifest,
    pick_platform,
)
from leptonci.adapters.images.layout import Descriptor, OciLayout, json_object
from leptonci.adapters.images.registry import RegistryClient
from leptonci.adapters.images.upload import (
    BlobSource,
    BytesSource,
    FileSource,
    Uploaded,
    upload_blob,
)
from leptonci.core.errors import RegistryError, TagTaken
from leptonci.core.images import INDEX_TYPES, BaseRef

PARALLEL_BLOBS = 3
# progress(total_bytes) -> advance(amount) callback, and a close callback
ProgressFactory = Callable[[int], tuple[Callable[[int], None], Callable[[], None]]]


@dataclass(frozen=True)
class PushResult:
    digest: str  # read back from the destination
    bytes_sent: int  # blob bytes put on the wire (0 when everything was there)
    artifact: ImageArtifact | None = None  # the image pushed (its digests all known)


def load_registry_base(ref: BaseRef, client: RegistryClient) -> BaseImage:
    where = str(ref)
    data, media_type = client.get_manifest(ref.repository, ref.reference)
    manifest = json_object(data, f"base image {where}'s manifest")
    if media_type in INDEX_TYPES or manifest.get("mediaType") in INDEX_TYPES:
        data, _ = client.get_manifest(ref.repository, pick_platform(manifest, where))
        manifest = json_object(data, f"base image {where}'s manifest")
    config, layers = parse_base_manifest(
        manifest, where, lambda digest: client.get_blob_bytes(ref.repository, digest)
    )

    def fetch(blob: Descriptor, store: OciLayout) -> None:
        client.download_blob(ref.repository, blob, store)

    return BaseImage(ref, config, layers, fetch)


class _Bar:
    """One progress bar fed from several upload threads."""

    def __init__(self, progress: ProgressFactory | None, total: int) -> None:
        self._advance: Callable[[int], None] | None = None
        self._close: Callable[[], None] | None = None
        if progress is not None and total:
            self._advance, self._close = progress(total)
        self._lock = threading.Lock()

    def advance(self, amount: int) -> None:
        if self._advance is not None:
            with self._lock:
                self._advance(amount)

    def close(self) -> None:
        if self._close is not None:
            self._close()


def _mountable(client: RegistryClient, repo: str, base: BaseImage | None, blob: Descriptor) -> str:
    """The repository on this registry to mount blob from ("" when there is none)."""
    if base is None or blob not in base.layers or base.ref.kind != "registry":
        return ""
    if base.ref.host != client.host or base.ref.repository == repo:
        return ""
    return base.ref.repository


def _present(client: RegistryClient, repo: str, blob: Descriptor, base: BaseImage | None) -> bool:
    """Whether repo has blob now: it had it, or it was mounted from the base's repository."""
    if client.has_blob(repo, blob.digest):
        return True
    source = _mountable(client, repo, base, blob)
    return bool(source) and client.mount_blob(repo, blob.digest, source)


def _source(
    blob: Descriptor,
    *,
    artifact: ImageArtifact | None,
    base: BaseImage | None,
    store: OciLayout | None,
) -> BlobSource:
    if artifact is not None and blob == artifact.config and artifact.config_bytes:
        return BytesSource(artifact.config_bytes, "the image config")
    if store is not None and store.has_blob(blob.digest):
        return FileSource(store.blob_path(blob.digest), blob.size)
    if artifact is not None and blob == artifact.model_layer and artifact.source is not None:
        return artifact.source  # read from the model folder again: the store lacks it
    if store is not None and base is not None and blob in base.layers:
        base.fetch(blob, store)
        return FileSource(store.blob_path(blob.digest), blob.size)
    where = store.root if store is not None else "(none)"
    raise RegistryError(
        f"blob {blob.digest[:19]} is missing from the build store {where}",
        hint="build the image again (the cache may have been pruned)",
    )


def push_to_registry(
    image: ImageArtifact | PendingImage,
    *,
    store: OciLayout | None = None,
    client: RegistryClient,
    repo: str,
    tags: tuple[str, ...],
    progress: ProgressFactory | None = None,
    parallel: int = PARALLEL_BLOBS,
) -> PushResult:
    """Push blobs (skipping those present), then the manifest under each tag.

    An ImageArtifact names every blob; a PendingImage without a recorded digest has
    its model layer streamed (and then its config sent), the rest of it checked.
    """
    artifact = image if isinstance(image, ImageArtifact) else image.artifact
    pending = image if isinstance(image, PendingImage) and artifact is None else None
    if artifact is not None:  # known before sending anything: refuse before any blob goes
        refuse_moving_tags(repo, tags, artifact.digest, lambda t: client.manifest_digest(repo, t))
    base = image.base
    checked = artifact.blobs if artifact is not None else (base.layers if base else ())
    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        there = list(pool.map(lambda b: _present(client, repo, b, base), checked))
        missing = [blob for blob, ok in zip(checked, there, strict=True) if not ok]
        total = sum(b.size for b in missing) + (pending.blob_bytes if pending else 0)
        bar = _Bar(progress, total)
        jobs: list[Future[Uploaded]] = []
        try:
            if pending is not None:  # the long one first
                jobs.append(
                    pool.submit(upload_blob, client, repo, pending.layer, on_progress=bar.advance)
                )
            for blob in missing:
                source = _source(blob, artifact=artifact, base=base, store=store)
                jobs.append(
                    pool.submit(
                        upload_blob,
                        client,
                        repo,
                        source,
                        digest=blob.digest,
                        on_progress=bar.advance,
                    )
                )
            sent = sum(job.result().sent for job in jobs)
            if pending is not None:
                artifact = pending.complete(jobs[0].result().digest)
                if not client.has_blob(repo, artifact.config.digest):
                    config = BytesSource(artifact.config_bytes, "the image config")
                    uploaded = upload_blob(
                        client, repo, config, digest=artifact.config.digest, on_progress=bar.advance
                    )
                    sent += uploaded.sent
        except BaseException:
            for job in jobs:
                job.cancel()
            raise
        finally:
            bar.close()
    assert artifact is not None
    there_now = {tag: client.manifest_digest(repo, tag) for tag in tags}
    refuse_moving_tags(repo, tags, artifact.digest, there_now.get)
    for tag in tags:
        if there_now[tag] != artifact.digest:
            client.put_manifest(repo, tag, artifact.manifest, artifact.media_type)
    digest = client.manifest_digest(repo, tags[0])
    if digest != artifact.digest:
        raise RegistryError(
            f"registry {client.host} reports {digest} for {repo}:{tags[0]}, "
            f"expected {artifact.digest}",
            hint="another push raced this one; run again",
        )
    return PushResult(digest, sent, artifact)


def push_to_layout(
    artifact: ImageArtifact,
    *,
    store: OciLayout,
    layout: OciLayout,
    tags: tuple[str, ...],
    progress: ProgressFactory | None = None,
) -> PushResult:
    """Put the image into an OCI layout folder and tag it in index.json.

    Blobs already in the build store are hard-linked in where the two share a
    filesystem (no byte copied), copied otherwise.
    """
    missing = [b for b in artifact.blobs if not layout.has_blob(b.digest)]
    total = sum(b.size for b in missing)
    bar = _Bar(progress, total)
    sent = 0
    try:
        for blob in missing:
            written = _into_layout(blob, artifact, store, layout)
            sent += written
            bar.advance(written)
    finally:
        bar.close()
    refuse_moving_tags(str(layout.root), tags, artifact.digest, _resolved(layout))
    digest, _ = layout.put_bytes(artifact.manifest)
    desc = Descriptor(artifact.media_type, digest, len(artifact.manifest))
    layout.tag(desc, tags)
    found = layout.resolve(tags[0])
    if found is None or found.digest != artifact.digest:
        raise RegistryError(f"layout {layout.root} did not record {tags[0]} -> {artifact.digest}")
    return PushResult(found.digest, sent, artifact)


def _into_layout(
    blob: Descriptor, artifact: ImageArtifact, store: OciLayout, layout: OciLayout
) -> int:
    source = _source(blob, artifact=artifact, base=artifact.base, store=store)
    if isinstance(source, FileSource):
        return layout.put_file(source.path, blob.digest, link=True)
    writer = layout.writer()
    try:
        for piece in source.chunks():
            writer.sink.write(piece)
    except BaseException:
        writer.abort()
        raise
    if writer.sink.digest != blob.digest:
        writer.abort()
        raise RegistryError(
            f"{source.name} no longer reads as {blob.digest[:19]}",
            hint="leave it alone until the push is done, then run again",
        )
    writer.commit()
    return writer.sink.size


def refuse_moving_tags(
    where: str, tags: Sequence[str], digest: str, tagged: Callable[[str], str | None]
) -> None:
    """A pushed tag is never moved: TagTaken (exit 1) when ``tagged(tag)`` names a digest
    other than ``digest`` (a release id already pushed as another image)."""
    for tag in tags:
        there = tagged(tag)
        if there is not None and there != digest:
            raise TagTaken(
                f"{where}:{tag} is already {there}; this build is {digest}: a pushed tag is "
                "never moved, so one release id names exactly one image",
                hint="the model's bytes differ from the run that pushed it (retrained, or "
                "built from another commit); promote the release already pushed, or change "
                "the model's inputs so it gets a release id of its own",
            )


def _resolved(layout: OciLayout) -> Callable[[str], str | None]:
    def digest_of(tag: str) -> str | None:
        found = layout.resolve(tag)
        return found.digest if found is not None else None

    return digest_of
