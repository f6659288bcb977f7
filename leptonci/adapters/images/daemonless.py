"""The daemonless builder: writes the OCI image itself, reproducibly.

The model goes into one uncompressed tar layer at ``/models/NAME/VERSION/``: entries
sorted, owner 0:0, modes normalised to 0644/0755, every mtime set to the source
commit's time, no gzip (whose bytes differ between zlib builds); see ``tarlayer``.
Config and manifest are canonical JSON. So the same model bytes give the same digest on
any machine, at any time.

Two ways to build: ``build_artifact`` reads the layer once into the store (or only
hashes it, for a dry run), so the digest is known before the push; ``prepare_image``
reads nothing, and the push to a registry learns the digest while the layer streams
out. Either takes the digest from the candidate's ``LayerRecord`` when it knows it.

The base is ``scratch`` (a model-only image, e.g. for KServe modelcars) or an image read
from a registry or an OCI layout; its layers are reused untouched.
"""

from __future__ import annotations

import platform
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leptonci.adapters.images.layercache import LayerRecord
from leptonci.adapters.images.layout import (
    Descriptor,
    HashingWriter,
    OciLayout,
    canonical_json,
    json_object,
    reading,
    sha256_digest,
)
from leptonci.adapters.images.tarlayer import Opener, TarLayer, open_raw
from leptonci.core.errors import ConfigError, RegistryError
from leptonci.core.images import (
    DOCKER_CONFIG,
    INDEX_TYPES,
    LAYER_TYPE_TO_OCI,
    OCI_CONFIG,
    OCI_LAYER_TAR,
    OCI_MANIFEST,
    BaseRef,
    BuildSpec,
    image_labels,
)

PLATFORM_OS = "linux"
# fetch(descriptor, store): copy one base blob into the local store
BlobFetcher = Callable[[Descriptor, OciLayout], None]


@dataclass(frozen=True)
class BaseImage:
    ref: BaseRef
    config: dict[str, Any]
    layers: tuple[Descriptor, ...]
    fetch: BlobFetcher = field(compare=False, repr=False)


@dataclass(frozen=True)
class ImageArtifact:
    """A built image: its manifest bytes and the blobs it names."""

    manifest: bytes
    config: Descriptor
    layers: tuple[Descriptor, ...]
    model_layer: Descriptor
    base: BaseImage | None = None
    media_type: str = OCI_MANIFEST
    config_bytes: bytes = field(default=b"", repr=False)
    # regenerates the model layer's bytes (a push that finds it in no store reads it here)
    source: TarLayer | None = field(default=None, compare=False, repr=False)

    @property
    def digest(self) -> str:
        return sha256_digest(self.manifest)

    @property
    def blobs(self) -> tuple[Descriptor, ...]:
        return (self.config, *self.layers)

    @property
    def size(self) -> int:
        return len(self.manifest) + sum(b.size for b in self.blobs)


def default_arch() -> str:
    machine = platform.machine().lower()
    return {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, "amd64")


# -- the model layer -----------------------------------------------------------------
def model_layer(spec: BuildSpec, *, opener: Opener = open_raw) -> TarLayer:
    """The model's tar layer, planned from a listing of the export (nothing read yet)."""
    if not (spec.export_dir / "saved_model.pb").is_file():
        raise ConfigError(
            f"no saved_model.pb in {spec.export_dir}",
            hint="train the model first (leptonci train MODEL)",
        )
    return TarLayer(spec.export_dir, prefix=spec.model_dir, mtime=spec.mtime, opener=opener)


def _write_layer(layer: TarLayer, store: OciLayout | None) -> Descriptor:
    """Read the layer once: into the store (hashing it), or only hashed."""
    if store is None:
        sink = HashingWriter()
        for piece in layer.chunks():
            sink.write(piece)
        return Descriptor(OCI_LAYER_TAR, sink.digest, sink.size)
    writer = store.writer()
    try:
        for piece in layer.chunks():
            writer.sink.write(piece)
    except BaseException:
        writer.abort()
        raise
    size = writer.sink.size
    return Descriptor(OCI_LAYER_TAR, writer.commit(), size)


# -- config and manifest -------------------------------------------------------------
def _image_config(spec: BuildSpec, base: BaseImage | None, diff_id: str) -> dict[str, Any]:
    base_config: dict[str, Any] = dict(base.config) if base else {}
    run = dict(base_config.get("config") or {})
    env = [e for e in run.get("Env") or [] if e.split("=", 1)[0] not in spec.env]
    env += [f"{k}={v}" for k, v in spec.env.items()]
    labels = {**(run.get("Labels") or {}), **image_labels(spec)}
    run.update({"Env": env, "Labels": dict(sorted(labels.items()))})
    rootfs = base_config.get("rootfs") or {}
    history = list(base_config.get("history") or [])
    history.append(
        {"created": spec.source_time, "created_by": f"leptonci: COPY model to {spec.model_dir}/"}
    )
    return {
        "architecture": base_config.get("architecture") or default_arch(),
        "os": base_config.get("os") or PLATFORM_OS,
        "created": spec.source_time,
        "config": run,
        "rootfs": {"type": "layers", "diff_ids": [*(rootfs.get("diff_ids") or []), diff_id]},
        "history": history,
    }


def finish_artifact(
    spec: BuildSpec, base: BaseImage | None, model_layer: Descriptor, source: TarLayer | None = None
) -> ImageArtifact:
    """Config and manifest around a model layer whose digest is known."""
    config_bytes = canonical_json(_image_config(spec, base, model_layer.digest))
    config = Descriptor(OCI_CONFIG, sha256_digest(config_bytes), len(config_bytes))
    layers = (*(base.layers if base else ()), model_layer)
    manifest_data = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": config.to_json(),
        "layers": [layer.to_json() for layer in layers],
        "annotations": image_labels(spec),
    }
    manifest = canonical_json(manifest_data)
    return ImageArtifact(
        manifest, config, layers, model_layer, base, config_bytes=config_bytes, source=source
    )


def build_artifact(
    spec: BuildSpec,
    *,
    base: BaseImage | None,
    store: OciLayout | None,
    record: LayerRecord | None = None,
    opener: Opener = open_raw,
) -> ImageArtifact:
    """Build the image; with a store its blobs are written there, else only hashed.

    When the record knows the layer (and the store, if any, holds it) the model is not
    read at all.
    """
    layer = model_layer(spec, opener=opener)
    known = record.lookup(layer) if record is not None else None
    if known is not None and (store is None or store.has_blob(known.digest)):
        model = known
    else:
        model = _write_layer(layer, store)
        if record is not None:
            record.remember(layer, model.digest)
    artifact = finish_artifact(spec, base, model, layer)
    if store is not None:
        store.put_bytes(artifact.config_bytes)
        store.put_bytes(artifact.manifest)
    return artifact


@dataclass(frozen=True)
class PendingImage:
    """An image whose model layer is planned (listed) but not read.

    Pushed to a registry, the layer streams through the hash and out in one pass, and
    the digest is learnt at the end; when the record already knows it, ``artifact``
    is the whole image and a re-push reads nothing.
    """

    spec: BuildSpec
    base: BaseImage | None
    layer: TarLayer = field(compare=False, repr=False)
    record: LayerRecord | None = field(default=None, compare=False, repr=False)
    known: Descriptor | None = None

    @property
    def artifact(self) -> ImageArtifact | None:
        if self.known is None:
            return None
        return finish_artifact(self.spec, self.base, self.known, self.layer)

    @property
    def size(self) -> int:
        """The image's size, exact before the digest is known (digests have one length)."""
        return self._placeholder.size

    @property
    def blob_bytes(self) -> int:
        """The bytes of the model layer and the config: what the push has to stream."""
        return self.layer.size + self._placeholder.config.size

    @property
    def _placeholder(self) -> ImageArtifact:
        model = Descriptor(OCI_LAYER_TAR, "sha256:" + "0" * 64, self.layer.size)
        return finish_artifact(self.spec, self.base, model)

    def complete(self, digest: str) -> ImageArtifact:
        """The image, once its model layer has been read whole and hashed to digest."""
        if self.record is not None:
            self.record.remember(self.layer, digest)
        model = Descriptor(OCI_LAYER_TAR, digest, self.layer.size)
        return finish_artifact(self.spec, self.base, model, self.layer)


def prepare_image(
    spec: BuildSpec,
    *,
    base: BaseImage | None,
    record: LayerRecord | None = None,
    opener: Opener = open_raw,
) -> PendingImage:
    """Plan the image without reading the model (its layer's digest from the record)."""
    layer = model_layer(spec, opener=opener)
    known = record.lookup(layer) if record is not None else None
    return PendingImage(spec, base, layer, record, known)


# -- base images ---------------------------------------------------------------------
def parse_base_manifest(
    manifest: dict[str, Any], where: str, read_blob: Callable[[str], bytes]
) -> tuple[dict[str, Any], tuple[Descriptor, ...]]:
    """(config, layers) of a single-platform manifest, layers renamed to OCI types."""
    what = f"base image {where}'s manifest"
    with reading(what):
        config_desc = manifest["config"]
        digest = str(config_desc["digest"])
        media_type = config_desc.get("mediaType")
        layers = tuple(
            Descriptor(
                LAYER_TYPE_TO_OCI.get(layer["mediaType"], str(layer["mediaType"])),
                str(layer["digest"]),
                int(layer["size"]),
            )
            for layer in manifest.get("layers") or []
        )
    config = json_object(read_blob(digest), f"base image {where}'s config")
    if media_type not in (OCI_CONFIG, DOCKER_CONFIG):
        raise RegistryError(f"base image {where} is not a container image (config type)")
    return config, layers


def pick_platform(index: dict[str, Any], where: str, arch: str | None = None) -> str:
    """The manifest digest for linux/ARCH in a multi-platform index."""
    arch = arch or default_arch()
    with reading(f"base image {where}'s index"):
        for entry in index.get("manifests") or []:
            plat = entry.get("platform") or {}
            if plat.get("os") == PLATFORM_OS and plat.get("architecture") == arch:
                return str(entry["digest"])
    raise RegistryError(f"base image {where} has no {PLATFORM_OS}/{arch} variant")


def load_layout_base(ref: BaseRef, folder: Path) -> BaseImage:
    layout = OciLayout(folder)
    if not (folder / "index.json").is_file():
        raise ConfigError(f"image.base: {folder} is not an OCI image layout (no index.json)")
    desc = layout.resolve(ref.reference)
    if desc is None:
        raise ConfigError(f"image.base: no image tagged {ref.reference!r} in {folder}")
    manifest = layout.read_json(desc.digest)
    if desc.media_type in INDEX_TYPES or manifest.get("mediaType") in INDEX_TYPES:
        manifest = layout.read_json(pick_platform(manifest, str(ref)))
    config, layers = parse_base_manifest(manifest, str(ref), layout.read_bytes)

    def fetch(blob: Descriptor, store: OciLayout) -> None:
        store.put_file(layout.blob_path(blob.digest), blob.digest)

    return BaseImage(ref, config, layers, fetch)
