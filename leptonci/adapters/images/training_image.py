"""The training image: the model folder appended as one layer onto a training base image.

The layer holds ``/leptonci/job.json`` (what the worker entrypoint trains: the inputs
the content hash covers) and ``/leptonci/model/`` (the model folder's files, exactly
those the hash covers). It is written like the daemonless builder writes the model
layer: one uncompressed tar, entries sorted, owner 0:0, modes 0644/0755, mtime 0, and
canonical JSON for config and manifest. So the same inputs on the same base always give
the same digest, the digest is known before the push, and the Job runs the code that was
hashed. The base's layers are reused untouched.
"""

from __future__ import annotations

import tarfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from leptonci.adapters.images.daemonless import BaseImage, ImageArtifact, default_arch
from leptonci.adapters.images.layout import (
    Descriptor,
    HashingWriter,
    OciLayout,
    canonical_json,
    sha256_digest,
)
from leptonci.core.images import OCI_CONFIG, OCI_LAYER_TAR, OCI_MANIFEST
from leptonci.core.train_job import JOB_DIR, MODEL_DIR

PLATFORM_OS = "linux"


def write_training_layer(
    files: Sequence[tuple[str, Path]], job: bytes, sink: HashingWriter
) -> None:
    """The layer's tar: job.json and the model folder under /leptonci, reproducibly."""

    def info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
        entry = tarfile.TarInfo(name)
        entry.type, entry.mode, entry.size, entry.mtime = kind, mode, size, 0
        entry.uid = entry.gid = 0
        entry.uname = entry.gname = ""
        return entry

    top = JOB_DIR.strip("/")
    folders: set[str] = set()
    for rel, _ in files:
        parts = rel.split("/")[:-1]
        folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.GNU_FORMAT) as tar:  # type: ignore[call-overload]
        tar.addfile(info(f"{top}/", tarfile.DIRTYPE, 0o755))
        tar.addfile(info(f"{top}/job.json", tarfile.REGTYPE, 0o644, len(job)), _Bytes(job))
        tar.addfile(info(f"{top}/{MODEL_DIR}/", tarfile.DIRTYPE, 0o755))
        entries = [(f, None) for f in folders] + [(rel, path) for rel, path in files]
        for rel, path in sorted(entries, key=lambda e: e[0]):
            name = f"{top}/{MODEL_DIR}/{rel}"
            if path is None:
                tar.addfile(info(name + "/", tarfile.DIRTYPE, 0o755))
                continue
            st = path.stat()
            mode = 0o755 if st.st_mode & 0o111 else 0o644
            with path.open("rb") as fh:
                tar.addfile(info(name, tarfile.REGTYPE, mode, st.st_size), fh)


class _Bytes:
    """A tiny read-only file over bytes (tarfile reads members with .read(n))."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def read(self, size: int = -1) -> bytes:
        end = len(self._data) if size < 0 else self._pos + size
        chunk = self._data[self._pos : end]
        self._pos += len(chunk)
        return chunk


def _config(base: BaseImage, diff_id: str, labels: Mapping[str, str]) -> dict[str, Any]:
    base_config: dict[str, Any] = dict(base.config)
    run = dict(base_config.get("config") or {})
    env = [e for e in run.get("Env") or [] if not e.startswith("PYTHONUNBUFFERED=")]
    run["Env"] = [*env, "PYTHONUNBUFFERED=1"]  # progress lines reach the log at once
    run["Labels"] = dict(sorted({**(run.get("Labels") or {}), **labels}.items()))
    rootfs = base_config.get("rootfs") or {}
    history = [
        *(base_config.get("history") or []),
        {"created_by": f"leptonci: COPY job.json and the model folder to {JOB_DIR}/"},
    ]
    return {
        "architecture": base_config.get("architecture") or default_arch(),
        "os": base_config.get("os") or PLATFORM_OS,
        "config": run,
        "rootfs": {"type": "layers", "diff_ids": [*(rootfs.get("diff_ids") or []), diff_id]},
        "history": history,
    }


def build_training_image(
    *,
    base: BaseImage,
    files: Sequence[tuple[str, Path]],
    job: bytes,
    labels: Mapping[str, str],
    store: OciLayout | None,
) -> ImageArtifact:
    """Build the training image; with a store its new blobs are written there, else only
    hashed (a dry run learns the digest without writing anything)."""
    if store is not None:
        writer = store.writer()
        try:
            write_training_layer(files, job, writer.sink)
        except BaseException:
            writer.abort()
            raise
        size = writer.sink.size
        digest = writer.commit()
    else:
        sink = HashingWriter()
        write_training_layer(files, job, sink)
        size, digest = sink.size, sink.digest
    layer = Descriptor(OCI_LAYER_TAR, digest, size)
    config_bytes = canonical_json(_config(base, digest, labels))
    config = Descriptor(OCI_CONFIG, sha256_digest(config_bytes), len(config_bytes))
    layers = (*base.layers, layer)
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config.to_json(),
            "layers": [item.to_json() for item in layers],
            "annotations": dict(sorted(labels.items())),
        }
    )
    if store is not None:
        store.put_bytes(config_bytes)
        store.put_bytes(manifest)
    return ImageArtifact(manifest, config, layers, layer, base, config_bytes=config_bytes)
