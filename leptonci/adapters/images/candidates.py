"""The candidate store: trained candidates as OCI artifacts in a registry or an OCI layout.

One candidate is one OCI image manifest with leptonci's own artifact type. Its config
blob is the candidate's ``metrics.json``; its one layer is a reproducible tar of the
SavedModel folder (``MODEL/VERSION/...``: sorted, owner 0:0, modes 0644/0755, mtime 0);
its annotations say when and by whom it was trained. It is tagged ``MODEL-HEX`` with
the content hash, so the store is a training cache that every runner shares: look the
hash up before training, publish after. Nothing fetched is used before its digest is
checked: the manifest against the digest the store named, each blob against the digest
the manifest names, and the metrics against the hash that was asked for.

Only the stable operations of ``RegistryClient``, ``upload`` and ``OciLayout`` are used here.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tarfile
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from leptonci.adapters.images.layout import (
    Descriptor,
    HashingWriter,
    OciLayout,
    canonical_json,
    json_object,
    reading,
)
from leptonci.adapters.images.registry import RegistryClient
from leptonci.adapters.images.upload import FileSource, upload_blob
from leptonci.core.candidate import METRICS_FILE
from leptonci.core.errors import RegistryError
from leptonci.core.files import read_text
from leptonci.core.images import OCI_MANIFEST

REPOSITORY = "leptonci-candidates"
ARTIFACT_TYPE = "application/vnd.leptonci.candidate.v1"
METRICS_TYPE = "application/vnd.leptonci.candidate.metrics.v1+json"
MODEL_TYPE = "application/vnd.leptonci.candidate.model.v1.tar"
ANNOTATION_MODEL = "io.leptonci.model"
ANNOTATION_HASH = "io.leptonci.model-hash"
ANNOTATION_TRAINED_AT = "io.leptonci.trained-at"
ANNOTATION_TRAINED_BY = "io.leptonci.trained-by"
ANNOTATION_CREATED = "org.opencontainers.image.created"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class StoredCandidate:
    """A candidate found in a store: its manifest (verified) and what it names."""

    tag: str
    digest: str  # of the manifest
    metrics: Descriptor
    model: Descriptor
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def trained_at(self) -> str:
        return self.annotations.get(ANNOTATION_TRAINED_AT, "")

    @property
    def trained_by(self) -> str:
        return self.annotations.get(ANNOTATION_TRAINED_BY, "")


@dataclass(frozen=True)
class _Packed:
    manifest: bytes
    metrics: Descriptor
    metrics_path: Path
    model: Descriptor
    model_path: Path

    @property
    def digest(self) -> str:
        return "sha256:" + hashlib.sha256(self.manifest).hexdigest()


class CandidateStore(ABC):
    """Where candidates are published and looked up; see the module docstring."""

    @abstractmethod
    def describe(self) -> str:
        """The store for people: HOST/NS/leptonci-candidates or oci-layout:DIR."""

    @abstractmethod
    def lookup(self, tag: str) -> StoredCandidate | None:
        """The candidate tagged tag, or None; raises RegistryError when it is damaged."""

    @abstractmethod
    def fetch(self, stored: StoredCandidate, dest: Path, *, model: str, content_hash: str) -> None:
        """Write the candidate (metrics.json and MODEL/VERSION/) into the empty folder dest."""

    @abstractmethod
    def publish(self, root: Path, *, tag: str, annotations: Mapping[str, str]) -> str:
        """Push the candidate folder root under tag; returns the manifest digest."""


# -- packing and unpacking -----------------------------------------------------------


def _model_folder(root: Path) -> tuple[str, str]:
    """(MODEL, VERSION) of the one SavedModel in a candidate folder, read from metrics.json."""
    data = json.loads(read_text(root / METRICS_FILE))
    return str(data["model"]), str(data.get("version", 1))


def _entries(top: Path) -> Iterator[Path]:
    for folder, dirs, files in os.walk(top):
        dirs.sort()
        base = Path(folder)
        for name in sorted([*dirs, *files]):
            yield base / name


def write_model_tar(root: Path, model: str, version: str, sink: HashingWriter) -> None:
    """The SavedModel folder as a tar that depends on nothing but the files' bytes and modes."""

    def info(name: str, kind: bytes, mode: int, size: int = 0) -> tarfile.TarInfo:
        entry = tarfile.TarInfo(name)
        entry.type, entry.mode, entry.size, entry.mtime = kind, mode, size, 0
        entry.uid = entry.gid = 0
        entry.uname = entry.gname = ""
        return entry

    top = root / model / version
    if not (top / "saved_model.pb").is_file():
        raise RegistryError(f"no saved_model.pb in {top}: not a trained candidate")
    with tarfile.open(fileobj=sink, mode="w|", format=tarfile.GNU_FORMAT) as tar:  # type: ignore[call-overload]
        tar.addfile(info(f"{model}/", tarfile.DIRTYPE, 0o755))
        tar.addfile(info(f"{model}/{version}/", tarfile.DIRTYPE, 0o755))
        for path in sorted(_entries(top)):
            name = f"{model}/{version}/{path.relative_to(top).as_posix()}"
            if path.is_dir():
                tar.addfile(info(name + "/", tarfile.DIRTYPE, 0o755))
            else:
                st = path.stat()
                mode = 0o755 if st.st_mode & 0o111 else 0o644
                with path.open("rb") as fh:
                    tar.addfile(info(name, tarfile.REGTYPE, mode, st.st_size), fh)


def pack(root: Path, work: Path, annotations: Mapping[str, str]) -> _Packed:
    """Write the candidate's blobs into work/ and build its manifest."""
    model, version = _model_folder(root)
    metrics_bytes = (root / METRICS_FILE).read_bytes()
    metrics_path = work / "metrics.json"
    metrics_path.write_bytes(metrics_bytes)
    metrics = Descriptor(
        METRICS_TYPE, "sha256:" + hashlib.sha256(metrics_bytes).hexdigest(), len(metrics_bytes)
    )
    model_path = work / "model.tar"
    with model_path.open("wb") as fh:
        sink = HashingWriter(fh)
        write_model_tar(root, model, version, sink)
    layer = Descriptor(
        MODEL_TYPE, sink.digest, sink.size, (("org.opencontainers.image.title", model),)
    )
    manifest = canonical_json(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "artifactType": ARTIFACT_TYPE,
            "config": metrics.to_json(),
            "layers": [layer.to_json()],
            "annotations": dict(sorted(annotations.items())),
        }
    )
    return _Packed(manifest, metrics, metrics_path, layer, model_path)


def parse_manifest(data: bytes, *, tag: str, digest: str, where: str) -> StoredCandidate:
    """A stored candidate from manifest bytes already checked against digest."""
    what = f"candidate {where} {short_tag(tag)}'s manifest"
    manifest = json_object(data, what)
    with reading(what):
        config = Descriptor.from_json(manifest["config"])
        layers = [Descriptor.from_json(layer) for layer in manifest["layers"]]
        annotations = {str(k): str(v) for k, v in (manifest.get("annotations") or {}).items()}
    if manifest.get("artifactType") != ARTIFACT_TYPE or config.media_type != METRICS_TYPE:
        raise RegistryError(
            f"{where} {short_tag(tag)} is not a leptonci candidate (artifact type "
            f"{manifest.get('artifactType')!r})",
            hint=f"the {REPOSITORY} repository holds only what leptonci publishes",
        )
    models = [layer for layer in layers if layer.media_type == MODEL_TYPE]
    if len(models) != 1:
        raise RegistryError(
            f"candidate {where} {short_tag(tag)} has {len(models)} model layers, not 1"
        )
    return StoredCandidate(tag, digest, config, models[0], annotations)


def check_metrics(data: bytes, *, model: str, content_hash: str, where: str) -> None:
    """The metrics blob must be the candidate that was asked for."""
    metrics = json_object(data, f"candidate {where}'s metrics.json")
    if metrics.get("model") != model or metrics.get("content_hash") != content_hash:
        raise RegistryError(
            f"candidate {where} is {metrics.get('model')} {metrics.get('content_hash')}, "
            f"not {model} {content_hash}",
            hint="the tag points at another candidate; delete it and train again",
        )


def extract_model(tar_path: Path, dest: Path, *, model: str) -> None:
    """Unpack the model layer into dest: only MODEL/... folders and regular files."""
    with tarfile.open(tar_path, mode="r:") as tar:
        for member in tar:
            parts = PurePosixPath(member.name).parts
            if (
                not parts
                or parts[0] != model
                or member.name.startswith("/")
                or any(p in ("..", "") for p in parts)
            ):
                raise RegistryError(f"model layer holds an unexpected path {member.name!r}")
            target = dest.joinpath(*parts)
            if member.isdir():
                target.mkdir(parents=True, exist_ok=True)
            elif member.isfile():
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                with source, target.open("wb") as out:
                    shutil.copyfileobj(source, out, _CHUNK)
                target.chmod(0o755 if member.mode & 0o111 else 0o644)
            else:
                raise RegistryError(f"model layer holds {member.name!r}, not a file or folder")


def _file_digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def _write_fetched(dest: Path, metrics: bytes, model_tar: Path, model: str) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    extract_model(model_tar, dest, model=model)
    (dest / METRICS_FILE).write_bytes(metrics)


def short_tag(tag: str) -> str:
    """A candidate tag for people: MODEL- and the hash's first 12 hex digits."""
    model, _, hexdigest = tag.rpartition("-")
    return f"{model}-{hexdigest[:12]}" if model else tag[:24]


# -- a registry ----------------------------------------------------------------------


class RegistryCandidates(CandidateStore):
    """Candidates in one repository of a registry. The client may be given as a function
    that makes it: then nothing (not even a credential helper) runs until it is used."""

    def __init__(
        self,
        client: RegistryClient | Callable[[], RegistryClient],
        repo: str,
        *,
        host: str | None = None,
    ) -> None:
        self._client = client if isinstance(client, RegistryClient) else None
        self._connect = None if isinstance(client, RegistryClient) else client
        self.host = host or (self._client.host if self._client is not None else "")
        self.repo = repo

    @property
    def client(self) -> RegistryClient:
        if self._client is None:
            assert self._connect is not None
            self._client = self._connect()
        return self._client

    def describe(self) -> str:
        return f"{self.host}/{self.repo}"

    def lookup(self, tag: str) -> StoredCandidate | None:
        digest = self.client.manifest_digest(self.repo, tag)
        if digest is None:
            return None
        data, _ = self.client.get_manifest(self.repo, digest)
        actual = "sha256:" + hashlib.sha256(data).hexdigest()
        if actual != digest:
            raise RegistryError(
                f"candidate {self.describe()} {short_tag(tag)}: the manifest read back is {actual}, "
                f"not {digest}",
                hint="the registry's storage is damaged; delete the tag and train again",
            )
        return parse_manifest(data, tag=tag, digest=digest, where=self.describe())

    def fetch(self, stored: StoredCandidate, dest: Path, *, model: str, content_hash: str) -> None:
        where = f"{self.describe()} {short_tag(stored.tag)}"
        metrics = self.client.get_blob_bytes(self.repo, stored.metrics.digest)  # verified
        check_metrics(metrics, model=model, content_hash=content_hash, where=where)
        with tempfile.TemporaryDirectory(dir=dest.parent, prefix=".fetch-") as tmp:
            work = OciLayout(Path(tmp))
            try:
                digest = self.client.download_blob(self.repo, stored.model, work)
            except RegistryError as exc:
                raise RegistryError(
                    f"candidate {where}: model blob {stored.model.digest[:19]} refused: "
                    f"{exc.message}",
                    hint="the registry's copy is damaged; it is not used",
                ) from None
            _write_fetched(dest, metrics, work.blob_path(digest), model)

    def publish(self, root: Path, *, tag: str, annotations: Mapping[str, str]) -> str:
        with tempfile.TemporaryDirectory(prefix="leptonci-publish-") as tmp:
            packed = pack(root, Path(tmp), annotations)
            for desc, path in (
                (packed.metrics, packed.metrics_path),
                (packed.model, packed.model_path),
            ):
                if not self.client.has_blob(self.repo, desc.digest):
                    upload_blob(
                        self.client, self.repo, FileSource(path, desc.size), digest=desc.digest
                    )
            self.client.put_manifest(self.repo, tag, packed.manifest, OCI_MANIFEST)
        found = self.client.manifest_digest(self.repo, tag)
        if found != packed.digest:
            raise RegistryError(
                f"registry {self.host} reports {found} for {self.repo}:{tag}, "
                f"expected {packed.digest}",
                hint="another runner published the same candidate at the same time; run again",
            )
        return packed.digest


# -- an OCI layout folder ------------------------------------------------------------


class LayoutCandidates(CandidateStore):
    def __init__(self, layout: OciLayout, *, label: str | None = None) -> None:
        self.layout = layout
        self.label = label or f"oci-layout:{layout.root}"

    def describe(self) -> str:
        return self.label

    def _verified(self, desc: Descriptor, where: str) -> Path:
        path = self.layout.blob_path(desc.digest)
        if not path.is_file():
            raise RegistryError(f"candidate {where}: blob {desc.digest[:19]} is missing")
        actual = _file_digest(path)
        if actual != desc.digest:
            raise RegistryError(
                f"candidate {where}: blob {desc.digest[:19]} refused: its bytes hash to "
                f"{actual[:19]}",
                hint="the layout's copy is damaged; it is not used",
            )
        return path

    def lookup(self, tag: str) -> StoredCandidate | None:
        if not (self.layout.root / "index.json").is_file():
            return None
        desc = self.layout.resolve(tag)
        if desc is None:
            return None
        data = self._verified(desc, f"{self.label} {short_tag(tag)}").read_bytes()
        return parse_manifest(data, tag=tag, digest=desc.digest, where=self.label)

    def fetch(self, stored: StoredCandidate, dest: Path, *, model: str, content_hash: str) -> None:
        where = f"{self.label} {short_tag(stored.tag)}"
        metrics = self._verified(stored.metrics, where).read_bytes()
        check_metrics(metrics, model=model, content_hash=content_hash, where=where)
        _write_fetched(dest, metrics, self._verified(stored.model, where), model)

    def publish(self, root: Path, *, tag: str, annotations: Mapping[str, str]) -> str:
        self.layout.root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=self.layout.root, prefix=".publish-") as tmp:
            packed = pack(root, Path(tmp), annotations)
            for desc, path in (
                (packed.metrics, packed.metrics_path),
                (packed.model, packed.model_path),
            ):
                blob = self.layout.blob_path(desc.digest)
                if blob.is_file() and _file_digest(blob) != desc.digest:
                    blob.unlink()  # a damaged copy: replaced, never kept
                self.layout.put_file(path, desc.digest)
            digest, _ = self.layout.put_bytes(packed.manifest)
        self.layout.tag(Descriptor(OCI_MANIFEST, digest, len(packed.manifest)), (tag,))
        return digest


def annotations_for(
    *, model: str, content_hash: str, trained_at: str, trained_by: str
) -> dict[str, Any]:
    return {
        ANNOTATION_MODEL: model,
        ANNOTATION_HASH: content_hash,
        ANNOTATION_TRAINED_AT: trained_at,
        ANNOTATION_TRAINED_BY: trained_by,
        ANNOTATION_CREATED: trained_at,
    }
