"""The daemonless builder: writes the OCI image itself, reproducibly.

The model goes into one uncompressed tar layer at ``/models/NAME/VERSION/``: entries
sorted, owner 0:0, modes normalised to 0644/0755, every mtime set to the source
commit's time, no gzip (whose bytes differ between zlib builds). Config and manifest are
canonical JSON. So the same model bytes give the same digest on any machine, at any
time, and the digest is known before anything is pushed.

The base is ``scratch`` (a model-only image, e.g. for KServe modelcars) or an image read
from a registry or an OCI layout; its layers are reused untouched.
"""

from __future__ import annotations

import json
import os
import platform
import stat
import tarfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leptonci.adapters.images.layout import (
    Descriptor,
    HashingWriter,
    OciLayout,
    canonical_json,
    sha256_digest,
)
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
_READ_CHUNK = 1 << 20
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
def _model_entries(export_dir: Path) -> Iterator[tuple[str, Path]]:
    """(relative posix path, absolute path) of everything under export_dir, sorted.

    Symlinks are followed, directories too (a SavedModel's ``assets/`` is often a link
    into a data folder), so the layer holds the bytes the model reads; a dangling link
    or a directory loop is a config error naming the path.
    """
    found: list[tuple[str, Path]] = []

    def walk(folder: Path, seen: frozenset[tuple[int, int]]) -> None:
        for path in _listdir(folder, export_dir):
            rel = path.relative_to(export_dir).as_posix()
            st = _stat(path, export_dir)
            found.append((rel, path))
            if stat.S_ISDIR(st.st_mode):
                key = (st.st_dev, st.st_ino)
                if key in seen:
                    raise ConfigError(
                        f"{rel} in {export_dir} links back to a folder above it",
                        hint="replace the symlink loop with the files the model needs",
                    )
                walk(path, seen | {key})

    root = _stat(export_dir, export_dir)
    walk(export_dir, frozenset({(root.st_dev, root.st_ino)}))
    yield from sorted(found)


def _listdir(folder: Path, export_dir: Path) -> list[Path]:
    try:
        return list(folder.iterdir())
    except OSError as exc:
        raise _unreadable(folder, export_dir, exc) from None


def _stat(path: Path, export_dir: Path) -> os.stat_result:
    try:
        return path.stat()  # follows symlinks: the layer holds plain files only
    except OSError as exc:
        raise _unreadable(path, export_dir, exc) from None


def _unreadable(path: Path, export_dir: Path, exc: OSError) -> ConfigError:
    rel = path.relative_to(export_dir).as_posix() if path != export_dir else "."
    what = "a dangling symlink" if path.is_symlink() and not path.exists() else "unreadable"
    return ConfigError(
        f"{rel} in the model export {export_dir} is {what} ({exc.strerror or exc})",
        hint="fix or remove it, then build again",
    )


def write_model_layer(spec: BuildSpec, sink: HashingWriter) -> None:
    """Write the model's tar layer to sink, byte for byte reproducible."""
    if not (spec.export_dir / "saved_model.pb").is_file():
        raise ConfigError(
            f"no saved_model.pb in {spec.export_dir}",
            hint="train the model first (leptonci train MODEL)",
        )
    mtime = spec.mtime

    def info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
        entry = tarfile.TarInfo(name)
        entry.type, entry.mode, entry.size, entry.mtime = kind, mode, size, mtime
        entry.uid = entry.gid = 0
        entry.uname = entry.gname = ""
        return entry

    prefix = spec.model_dir.strip("/")
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.GNU_FORMAT) as tar:  # type: ignore[call-overload]
        parts = prefix.split("/")
        for i in range(1, len(parts) + 1):
            tar.addfile(info("/".join(parts[:i]) + "/", tarfile.DIRTYPE, 0o755))
        for rel, path in _model_entries(spec.export_dir):
            st = _stat(path, spec.export_dir)
            name = f"{prefix}/{rel}"
            if stat.S_ISDIR(st.st_mode):
                tar.addfile(info(name + "/", tarfile.DIRTYPE, 0o755))
            elif stat.S_ISREG(st.st_mode):
                mode = 0o755 if st.st_mode & 0o111 else 0o644
                try:
                    with path.open("rb") as fh:
                        tar.addfile(info(name, tarfile.REGTYPE, mode, st.st_size), fh)
                except OSError as exc:  # unreadable, or shrank while being read
                    raise _unreadable(path, spec.export_dir, exc) from None


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


def build_artifact(
    spec: BuildSpec, *, base: BaseImage | None, store: OciLayout | None
) -> ImageArtifact:
    """Build the image; with a store its blobs are written there, else only hashed."""
    if store is not None:
        writer = store.writer()
        try:
            write_model_layer(spec, writer.sink)
        except BaseException:
            writer.abort()
            raise
        layer_size = writer.sink.size
        layer_digest = writer.commit()
    else:
        sink = HashingWriter()
        write_model_layer(spec, sink)
        layer_size, layer_digest = sink.size, sink.digest
    model_layer = Descriptor(OCI_LAYER_TAR, layer_digest, layer_size)

    config_bytes = canonical_json(_image_config(spec, base, layer_digest))
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
    if store is not None:
        store.put_bytes(config_bytes)
        store.put_bytes(manifest)
    return ImageArtifact(manifest, config, layers, model_layer, base)


# -- base images ---------------------------------------------------------------------
def parse_base_manifest(
    manifest: dict[str, Any], where: str, read_blob: Callable[[str], bytes]
) -> tuple[dict[str, Any], tuple[Descriptor, ...]]:
    """(config, layers) of a single-platform manifest, layers renamed to OCI types."""
    try:
        config_desc = manifest["config"]
        config = json.loads(read_blob(config_desc["digest"]))
        layers = tuple(
            Descriptor(
                LAYER_TYPE_TO_OCI.get(layer["mediaType"], layer["mediaType"]),
                layer["digest"],
                int(layer["size"]),
            )
            for layer in manifest.get("layers") or []
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise RegistryError(f"base image {where} has a malformed manifest ({exc})") from None
    if config_desc.get("mediaType") not in (OCI_CONFIG, DOCKER_CONFIG):
        raise RegistryError(f"base image {where} is not a container image (config type)")
    return config, layers


def pick_platform(index: dict[str, Any], where: str, arch: str | None = None) -> str:
    """The manifest digest for linux/ARCH in a multi-platform index."""
    arch = arch or default_arch()
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
