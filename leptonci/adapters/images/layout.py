"""An OCI image layout on disk: ``oci-layout``, ``index.json`` and ``blobs/sha256/``.

Used twice: as the builder's content-addressed work store (under the cache folder) and
as the ``oci-layout:DIR`` destination, one layout per repository (``DIR/REPO``). Every
write is a temp file plus rename, so a crash leaves no half-written blob or index.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from leptonci.core.errors import ConfigError, RegistryError
from leptonci.core.files import NEW_FILE_MODE, read_text, write_atomic
from leptonci.core.images import OCI_INDEX, REF_NAME
from leptonci.core.redact import excerpt

LAYOUT_FILE = {"imageLayoutVersion": "1.0.0"}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    annotations: tuple[tuple[str, str], ...] = ()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": self.digest,
            "size": self.size,
        }
        if self.annotations:
            out["annotations"] = dict(self.annotations)
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Descriptor:
        return cls(
            str(data["mediaType"]),
            str(data["digest"]),
            int(data["size"]),
            tuple(sorted((data.get("annotations") or {}).items())),
        )


# What reading a JSON document of the wrong shape raises on the way (data["k"] on a
# list, int() of a mapping, float() of a huge integer, .get on a string...).
SHAPE_ERRORS = (KeyError, IndexError, TypeError, ValueError, AttributeError, OverflowError)


@contextmanager
def reading(what: str) -> Iterator[None]:
    """Reading what a registry sent: a reply of the wrong shape becomes a RegistryError
    (exit 3) naming what was read, never a crash."""
    try:
        yield
    except SHAPE_ERRORS as exc:
        detail = excerpt(f"{type(exc).__name__}: {exc}", 120)
        raise RegistryError(f"{what} is malformed ({detail})") from None


def json_object(data: bytes, what: str) -> dict[str, Any]:
    """data as a JSON object; RegistryError when it is not JSON or not an object."""
    with reading(what):
        value = json.loads(data)
    if not isinstance(value, dict):
        raise RegistryError(f"{what} is not a JSON object")
    return value


def canonical_json(data: Any) -> bytes:
    """The one JSON encoding of configs and manifests: sorted keys, no spaces."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class HashingWriter:
    """A write-only file that hashes and counts what goes through it.

    With no target it only hashes: a dry run learns the digest without writing.
    """

    def __init__(self, target: BinaryIO | None = None) -> None:
        self._target = target
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes | bytearray | memoryview) -> int:  # a file's protocol
        self._hash.update(data)
        self.size += len(data)
        if self._target is not None:
            self._target.write(data)
        return len(data)

    def flush(self) -> None:
        if self._target is not None:
            self._target.flush()

    @property
    def digest(self) -> str:
        return "sha256:" + self._hash.hexdigest()


class OciLayout:
    def __init__(self, root: Path) -> None:
        self.root = root

    # -- blobs ---------------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        algo, _, hexdigest = digest.partition(":")
        if algo != "sha256" or len(hexdigest) != 64:
            raise RegistryError(f"unsupported digest {digest!r} in {self.root}")
        return self.root / "blobs" / "sha256" / hexdigest

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def _tmp(self) -> tuple[BinaryIO, Path]:
        folder = self.root / "blobs" / "sha256"
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        os.fchmod(fd, NEW_FILE_MODE)  # mkstemp's 0600 would outlive the rename
        return os.fdopen(fd, "wb"), Path(name)

    def put_bytes(self, data: bytes) -> tuple[str, int]:
        """Store a blob; returns (digest, bytes written: 0 when it was there already)."""
        digest = sha256_digest(data)
        if self.has_blob(digest):
            return digest, 0
        fh, tmp = self._tmp()
        with fh:
            fh.write(data)
        tmp.replace(self.blob_path(digest))
        return digest, len(data)

    def put_file(self, source: Path, digest: str, *, link: bool = False) -> int:
        """Copy a blob in from a file (verifying its digest); returns bytes written.

        With link, a file from another content-addressed store (already verified when it
        was written) is hard-linked in instead when both are on one filesystem.
        """
        if self.has_blob(digest):
            return 0
        if link:
            target = self.blob_path(digest)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source, target)
                return source.stat().st_size
            except FileExistsError:
                return 0
            except OSError:
                pass  # another filesystem, or links not allowed: copy
        fh, tmp = self._tmp()
        writer = HashingWriter(fh)
        with fh, source.open("rb") as src:
            shutil.copyfileobj(src, writer, _CHUNK)  # type: ignore[misc]
        if writer.digest != digest:
            tmp.unlink(missing_ok=True)
            raise RegistryError(f"blob {source} does not match its digest {digest}")
        tmp.replace(self.blob_path(digest))
        return writer.size

    def writer(self) -> BlobWriter:
        fh, tmp = self._tmp()
        return BlobWriter(self, fh, tmp)

    def read_bytes(self, digest: str) -> bytes:
        try:
            return self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise RegistryError(f"blob {digest} missing from {self.root}") from None

    def read_json(self, digest: str) -> Any:
        return json.loads(self.read_bytes(digest))

    # -- index ---------------------------------------------------------------------
    def _index_path(self) -> Path:
        return self.root / "index.json"

    def index(self) -> dict[str, Any]:
        path = self._index_path()
        if not path.is_file():
            return {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
        try:
            data = json.loads(read_text(path))
        except json.JSONDecodeError as exc:
            raise ConfigError(f"not valid JSON: {exc.msg}", file=str(path)) from None
        if not isinstance(data, dict) or not isinstance(data.get("manifests"), list):
            raise ConfigError("not an OCI index (no 'manifests' list)", file=str(path))
        return data

    def entries(self) -> Iterator[tuple[str, Descriptor]]:
        for item in self.index()["manifests"]:
            desc = Descriptor.from_json(item)
            yield dict(desc.annotations).get(REF_NAME, ""), desc

    def resolve(self, ref: str) -> Descriptor | None:
        """The manifest descriptor tagged ref (or with digest ref), if any."""
        for name, desc in self.entries():
            if name == ref or desc.digest == ref:
                return desc
        return None

    def tag(self, desc: Descriptor, tags: tuple[str, ...]) -> None:
        """Point each tag at desc in index.json (replacing older entries with that tag)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with _locked(self.root):  # read-modify-write: two pushers must not lose a tag
            marker = self.root / "oci-layout"
            if not marker.is_file():
                write_atomic(marker, json.dumps(LAYOUT_FILE).encode())
            self._tag_unlocked(desc, tags)

    def _tag_unlocked(self, desc: Descriptor, tags: tuple[str, ...]) -> None:
        index = self.index()
        kept = [
            m for m in index["manifests"] if (m.get("annotations") or {}).get(REF_NAME) not in tags
        ]
        for tag in tags:
            entry = desc.to_json()
            entry["annotations"] = {**entry.get("annotations", {}), REF_NAME: tag}
            kept.append(entry)
        index["manifests"] = kept
        write_atomic(self._index_path(), json.dumps(index, indent=2).encode() + b"\n")


class BlobWriter:
    """Writes one blob of unknown digest: hash while writing, rename when closed."""

    def __init__(self, layout: OciLayout, fh: BinaryIO, tmp: Path) -> None:
        self._layout = layout
        self._fh = fh
        self._tmp = tmp
        self.sink = HashingWriter(fh)
        self.existed = False

    def commit(self) -> str:
        self._fh.close()
        digest = self.sink.digest
        if self._layout.has_blob(digest):
            self.existed = True
            self._tmp.unlink(missing_ok=True)
        else:
            self._tmp.replace(self._layout.blob_path(digest))
        return digest

    def abort(self) -> None:
        self._fh.close()
        self._tmp.unlink(missing_ok=True)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """An exclusive lock on folder itself (flock on its descriptor): no lock file to
    leave behind, and the folder, unlike index.json, is never replaced by a rename."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock
