"""OCI 1.1 referrers: artifacts attached to an image digest, in a registry or a layout.

An attestation is stored the way cosign (v3) and GitHub's attestations store a Sigstore
bundle: an image manifest with ``artifactType`` set to the bundle's media type, the
empty config, one layer holding the bundle JSON, and ``subject`` naming the image. A
registry that indexes referrers itself says so when the manifest is put (the
``OCI-Subject`` answer) and lists them at ``GET /v2/NAME/referrers/DIGEST``. One that
does not (Debian's docker-registry, distribution 2.8) gets the referrers tag schema
instead: an image index tagged ``sha256-HEX`` that lists every referrer, read, extended
and put back. An ``oci-layout:`` destination keeps the same tag-schema index in its
``index.json`` (as ``org.opencontainers.image.ref.name``), so the embedded default works
the same way.

Reading tries the referrers API first and falls back to the tag, as the distribution
spec says a client should; a referrer found either way is listed once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Protocol

from leptonci.adapters.images.layout import (
    Descriptor,
    OciLayout,
    canonical_json,
    json_object,
    reading,
    sha256_digest,
)
from leptonci.adapters.images.registry import RegistryClient
from leptonci.adapters.images.upload import BytesSource, upload_blob
from leptonci.core.errors import RegistryError
from leptonci.core.images import OCI_INDEX, OCI_MANIFEST

EMPTY_CONFIG_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY = b"{}"
TITLE = "org.opencontainers.image.title"
CREATED = "org.opencontainers.image.created"


def fallback_tag(digest: str) -> str:
    """The referrers tag schema's tag for digest: ``<alg>-<hex>``."""
    algo, _, hexpart = digest.partition(":")
    return f"{algo}-{hexpart}"


class Store(Protocol):
    """Where an image and its referrers live: one registry repository or one layout."""

    name: str

    def put_blob(self, data: bytes, *, fresh: bool = False) -> str:
        """Store a blob (fresh: it is new, e.g. holds a new signature; skip the check)."""
        ...

    def get_blob(self, digest: str) -> bytes: ...

    def put_manifest(self, data: bytes, media_type: str, ref: str) -> bool:
        """Store a manifest under ref (a digest or tag); True when the store indexes a
        ``subject`` itself (no tag-schema index is needed)."""
        ...

    def get_manifest(self, ref: str) -> tuple[bytes, str] | None: ...

    def referrers_api(self, digest: str) -> bytes | None: ...

    def resolve(self, ref: str) -> tuple[str, int, str] | None:
        """(digest, size, media type) of the manifest at ref (a tag or digest)."""
        ...


class RegistryStore:
    def __init__(self, client: RegistryClient, repo: str) -> None:
        self.client, self.repo = client, repo
        self.name = f"{client.host}/{repo}"

    def put_blob(self, data: bytes, *, fresh: bool = False) -> str:
        digest = sha256_digest(data)
        if fresh or not self.client.has_blob(self.repo, digest):
            upload_blob(self.client, self.repo, BytesSource(data, "an attestation"), digest=digest)
        return digest

    def get_blob(self, digest: str) -> bytes:
        return self.client.get_blob_bytes(self.repo, digest)

    def put_manifest(self, data: bytes, media_type: str, ref: str) -> bool:
        answer = self.client.push_manifest(self.repo, ref, data, media_type)
        return answer.subject is not None

    def get_manifest(self, ref: str) -> tuple[bytes, str] | None:
        return self.client.find_manifest(self.repo, ref)

    def referrers_api(self, digest: str) -> bytes | None:
        return self.client.referrers(self.repo, digest)

    def resolve(self, ref: str) -> tuple[str, int, str] | None:
        found = self.client.find_manifest(self.repo, ref)
        if found is None:
            return None
        data, media_type = found
        return sha256_digest(data), len(data), media_type or _media_type(data)


class LayoutStore:
    def __init__(self, layout: OciLayout) -> None:
        self.layout = layout
        self.name = str(layout.root)

    def put_blob(self, data: bytes, *, fresh: bool = False) -> str:
        digest, _ = self.layout.put_bytes(data)
        return digest

    def get_blob(self, digest: str) -> bytes:
        return self.layout.read_bytes(digest)

    def put_manifest(self, data: bytes, media_type: str, ref: str) -> bool:
        digest = self.put_blob(data)
        if ref != digest:
            self.layout.tag(Descriptor(media_type, digest, len(data)), (ref,))
        return False  # a layout has no referrers API: the tag-schema index is kept

    def get_manifest(self, ref: str) -> tuple[bytes, str] | None:
        desc = self.layout.resolve(ref)
        if desc is None:
            if ref.startswith("sha256:") and self.layout.has_blob(ref):
                data = self.layout.read_bytes(ref)
                return data, _media_type(data)
            return None
        return self.layout.read_bytes(desc.digest), desc.media_type

    def referrers_api(self, digest: str) -> bytes | None:
        return None

    def resolve(self, ref: str) -> tuple[str, int, str] | None:
        desc = self.layout.resolve(ref)
        if desc is None:
            return None
        return desc.digest, desc.size, desc.media_type


@dataclass(frozen=True)
class Referrer:
    digest: str  # of the artifact manifest
    size: int
    artifact_type: str
    annotations: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": OCI_MANIFEST,
            "digest": self.digest,
            "size": self.size,
            "artifactType": self.artifact_type,
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out


@dataclass(frozen=True)
class Artifact:
    blob: bytes  # the one layer
    annotations: dict[str, str]


def attach(
    store: Store,
    *,
    subject: tuple[str, int, str],
    artifact_type: str,
    artifacts: list[Artifact],
) -> list[Referrer]:
    """Attach each blob to the subject (digest, size, media type) as a referrer artifact;
    where the store keeps no referrers index, the tag-schema index is updated once."""
    subject_digest, subject_size, subject_type = subject
    config = store.put_blob(EMPTY)
    added: list[Referrer] = []
    indexed = True
    for artifact in artifacts:
        blob = artifact.blob
        layer = store.put_blob(blob, fresh=True)
        manifest = canonical_json(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "artifactType": artifact_type,
                "config": {"mediaType": EMPTY_CONFIG_TYPE, "digest": config, "size": len(EMPTY)},
                "layers": [
                    {
                        "mediaType": artifact_type,
                        "digest": layer,
                        "size": len(blob),
                        "annotations": {TITLE: f"{fallback_tag(layer)}.sigstore.json"},
                    }
                ],
                "subject": {
                    "mediaType": subject_type,
                    "digest": subject_digest,
                    "size": subject_size,
                },
                "annotations": artifact.annotations,
            }
        )
        digest = sha256_digest(manifest)
        indexed = store.put_manifest(manifest, OCI_MANIFEST, digest) and indexed
        added.append(Referrer(digest, len(manifest), artifact_type, dict(artifact.annotations)))
    if added and not indexed:
        _add_to_tag_index(store, subject_digest, added)
    return added


def _add_to_tag_index(store: Store, subject: str, referrers: list[Referrer]) -> None:
    tag = fallback_tag(subject)
    found = store.get_manifest(tag)
    index: dict[str, Any] = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    if found is not None:
        index = json_object(found[0], f"{store.name}:{tag}, an image index,")
        if not isinstance(index.get("manifests"), list):
            raise RegistryError(f"{store.name}:{tag} is not an image index (no manifests)")
    new = {r.digest for r in referrers}
    with reading(f"{store.name}:{tag}, an image index,"):
        entries = [m for m in index["manifests"] if m.get("digest") not in new]
    index["manifests"] = [*entries, *(r.to_json() for r in referrers)]
    store.put_manifest(canonical_json(index), OCI_INDEX, tag)


def list_referrers(
    store: Store, digest: str, *, artifact_type: str | None = None
) -> list[Referrer]:
    """Referrers of digest: the referrers API's answer, then the tag-schema index."""
    seen: dict[str, Referrer] = {}
    sources = [store.referrers_api(digest)]
    tagged = store.get_manifest(fallback_tag(digest))
    sources.append(tagged[0] if tagged is not None else None)
    for data in sources:
        if data is None:
            continue
        what = f"{store.name}: the referrers index of {digest[:19]}"
        index = json_object(data, what)
        with reading(what):
            for item in index.get("manifests") or []:
                referrer = Referrer(
                    str(item.get("digest", "")),
                    int(item.get("size", 0)),
                    str(item.get("artifactType", "")),
                    {str(k): str(v) for k, v in (item.get("annotations") or {}).items()},
                )
                if referrer.digest and referrer.digest not in seen:
                    if artifact_type is None or referrer.artifact_type == artifact_type:
                        seen[referrer.digest] = referrer
    return list(seen.values())


def read_artifact(
    store: Store, referrer: Referrer, *, subject: str
) -> tuple[bytes, dict[str, str]] | None:
    """The first layer of a referrer artifact and the manifest's annotations; None for a
    manifest whose ``subject`` is another digest (an index entry can lie)."""
    found = store.get_manifest(referrer.digest)
    if found is None:
        raise RegistryError(f"{store.name}: referrer {referrer.digest[:19]} is listed but missing")
    data, _ = found
    if sha256_digest(data) != referrer.digest:
        raise RegistryError(
            f"{store.name}: referrer {referrer.digest[:19]} does not match its digest"
        )
    what = f"{store.name}: referrer {referrer.digest[:19]}"
    manifest = json_object(data, what)
    with reading(what):
        if (manifest.get("subject") or {}).get("digest") != subject:
            return None
        layers = manifest.get("layers") or []
        if not layers:
            raise RegistryError(f"{what} has no layer")
        layer = Descriptor.from_json(layers[0])
        annotations = {str(k): str(v) for k, v in (manifest.get("annotations") or {}).items()}
    blob = store.get_blob(layer.digest)
    if sha256_digest(blob) != layer.digest:
        raise RegistryError(f"{store.name}: blob {layer.digest[:19]} does not match its digest")
    return blob, annotations


def _media_type(data: bytes) -> str:
    try:
        return str(json.loads(data).get("mediaType") or OCI_MANIFEST)
    except (ValueError, AttributeError):
        return OCI_MANIFEST
