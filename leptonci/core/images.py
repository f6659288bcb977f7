"""Image facts with no I/O: references, destinations, tags, labels and the build spec.

The builders (``leptonci/adapters/images/``) turn a ``BuildSpec`` into an image; this
module decides what that image is called, where it goes and what it says about itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from leptonci.core.errors import ConfigError
from leptonci.core.imageref import ImageRef, is_digest, is_host, is_repository, is_tag

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
# Docker-format layers are byte-identical to their OCI twins; an OCI manifest names them so.
LAYER_TYPE_TO_OCI = {
    DOCKER_LAYER_GZIP: OCI_LAYER_GZIP,
    "application/vnd.docker.image.rootfs.diff.tar": OCI_LAYER_TAR,
}

LABEL_SOURCE = "org.opencontainers.image.source"
LABEL_REVISION = "org.opencontainers.image.revision"
LABEL_CREATED = "org.opencontainers.image.created"
LABEL_VERSION = "org.opencontainers.image.version"
LABEL_MODEL_HASH = "io.leptonci.model-hash"
LABEL_RELEASE = "io.leptonci.release"
LABEL_VERDICT = "io.leptonci.verdict"
REF_NAME = "org.opencontainers.image.ref.name"

LAYOUT_PREFIX = "oci-layout:"
DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
_LOOPBACK = re.compile(r"^(localhost|127(\.\d{1,3}){3}|\[::1\])(:\d+)?$")


@dataclass(frozen=True)
class Destination:
    """Where images go: an OCI registry namespace, or an OCI image layout folder."""

    kind: str  # "registry" | "layout"
    host: str = ""  # registry HOST[:PORT]
    namespace: str = ""  # registry path prefix, may be ""
    layout_dir: str = ""  # layout folder, relative to the repository root or absolute

    def repository(self, repo: str) -> str:
        """The repository path on the registry (NAMESPACE/REPO) or the layout's name."""
        if self.kind == "registry" and self.namespace:
            return f"{self.namespace}/{repo}"
        return repo

    def image(self, repo: str) -> str:
        """The image name manifests pin: HOST/NAMESPACE/REPO, or REPO for a layout."""
        if self.kind == "registry":
            return f"{self.host}/{self.repository(repo)}"
        return repo

    def describe(self, repo: str) -> str:
        if self.kind == "registry":
            return self.image(repo)
        return f"{LAYOUT_PREFIX}{self.layout_dir}/{repo}"


def parse_destination(registry: str) -> Destination:
    """``HOST[:PORT]/NAMESPACE`` or ``oci-layout:DIR`` (each repository in DIR/REPO)."""
    if registry.startswith(LAYOUT_PREFIX):
        folder = registry[len(LAYOUT_PREFIX) :]
        if not folder:
            raise ConfigError("registry: oci-layout: needs a folder, e.g. oci-layout:.leptonci/oci")
        return Destination("layout", layout_dir=folder)
    host, slash, namespace = registry.partition("/")
    if not is_host(host):
        raise ConfigError(f"registry: {registry!r} is not HOST[:PORT]/NAMESPACE or oci-layout:DIR")
    if slash and not is_repository(namespace):
        raise ConfigError(f"registry: namespace {namespace!r} is not a valid repository path")
    return Destination("registry", host=host, namespace=namespace)


def plain_http(host: str, extra_hosts: frozenset[str] = frozenset()) -> bool:
    """Loopback registries (and hosts listed in LEPTONCI_REGISTRY_PLAIN_HTTP) speak http."""
    return bool(_LOOPBACK.match(host)) or host in extra_hosts


def plain_http_hosts(value: str | None) -> frozenset[str]:
    """Parse LEPTONCI_REGISTRY_PLAIN_HTTP: a comma-separated list of HOST[:PORT]."""
    return frozenset(h.strip() for h in (value or "").split(",") if h.strip())


@dataclass(frozen=True)
class BaseRef:
    """The image a build starts from: nothing, a registry image, or a layout entry."""

    kind: str  # "scratch" | "registry" | "layout"
    host: str = ""  # registry API host
    repository: str = ""
    reference: str = ""  # tag or digest
    layout_dir: str = ""

    def __str__(self) -> str:
        if self.kind == "scratch":
            return "scratch"
        if self.kind == "layout":
            sep = "@" if is_digest(self.reference) else ":"
            return f"{LAYOUT_PREFIX}{self.layout_dir}{sep}{self.reference}"
        sep = "@" if is_digest(self.reference) else ":"
        return f"{self.host}/{self.repository}{sep}{self.reference}"


def parse_base(text: str) -> BaseRef:
    """``scratch`` | ``[HOST/]REPO[:TAG][@DIGEST]`` | ``oci-layout:DIR[:TAG|@DIGEST]``.

    A reference without a host is Docker Hub's (``library/`` for a one-part name), and
    without a tag or digest it is ``latest``. Given both, the digest is what is pulled.
    """
    text = text.strip()
    if text in ("", "scratch"):
        return BaseRef("scratch")
    if text.startswith(LAYOUT_PREFIX):
        rest = text[len(LAYOUT_PREFIX) :]
        folder, at, digest = rest.rpartition("@")
        if at and is_digest(digest):
            return BaseRef("layout", layout_dir=folder, reference=digest)
        folder, sep, tag = rest.rpartition(":")
        if not sep or "/" in tag:
            folder, tag = rest, "latest"
        if not folder:
            raise ConfigError(f"image.base: {text!r} needs a folder: oci-layout:DIR[:TAG]")
        return BaseRef("layout", layout_dir=folder, reference=tag)
    try:
        ref = ImageRef.parse(text)
    except ConfigError as exc:
        raise ConfigError(exc.message, key="image.base", hint=exc.hint) from None
    host, repo = ref.registry or DOCKER_HUB, ref.repository
    if host == DOCKER_HUB:
        host = DOCKER_HUB_API
        if "/" not in repo:
            repo = f"library/{repo}"
    reference = ref.digest or ref.tag or "latest"
    return BaseRef("registry", host=host, repository=repo, reference=reference)


def image_tags(release: str, source_short: str) -> tuple[str, ...]:
    """The tags an image gets: its release id and its source commit's short hash."""
    tags = [release]
    if source_short and source_short not in tags:
        tags.append(source_short)
    for tag in tags:
        if not is_tag(tag):
            raise ConfigError(f"{tag!r} is not a valid image tag")
    return tuple(tags)


@dataclass(frozen=True)
class BuildSpec:
    """Everything that decides an image's bytes (and so, for daemonless, its digest)."""

    model: str
    version: int
    export_dir: Path  # the SavedModel folder (MODEL/VERSION)
    repository: str  # repository name under the destination
    release: str
    verdict: str  # "passed" | "failed" | "not-gated"
    content_hash: str
    source_commit: str
    source_time: str  # ISO-8601 UTC: layer mtimes and .created, for reproducibility
    source_url: str
    base: str = "scratch"
    model_base_path: str = "/models"
    tags: tuple[str, ...] = ()

    @property
    def model_dir(self) -> str:
        """Where the model lands in the image: /models/NAME/VERSION."""
        return f"{self.model_base_path.rstrip('/')}/{self.model}/{self.version}"

    @property
    def env(self) -> dict[str, str]:
        return {"MODEL_NAME": self.model, "MODEL_BASE_PATH": self.model_base_path}

    @property
    def mtime(self) -> int:
        return epoch_seconds(self.source_time)


def image_labels(spec: BuildSpec) -> dict[str, str]:
    """OCI labels (config) and annotations (manifest): the same set, sorted by key."""
    labels = {
        LABEL_CREATED: spec.source_time,
        LABEL_REVISION: spec.source_commit,
        LABEL_SOURCE: spec.source_url,
        LABEL_VERSION: spec.release,
        LABEL_MODEL_HASH: spec.content_hash,
        LABEL_RELEASE: spec.release,
        LABEL_VERDICT: spec.verdict,
    }
    return {k: labels[k] for k in sorted(labels) if labels[k]}


def epoch_seconds(iso: str) -> int:
    """Seconds since the epoch for an ISO-8601 UTC time like 2026-11-30T10:00:00Z."""
    if not iso:
        return 0
    try:
        moment = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        raise ConfigError(f"{iso!r} is not an ISO-8601 time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0, int(moment.timestamp()))


def named_image(value: str, *, scratch: str) -> BaseRef:
    """``parse_base`` for a config field that must name a real image: a ValueError (the
    message pydantic reports at the field) for bad text, and ``scratch`` for scratch."""
    try:
        ref = parse_base(value)
    except ConfigError as exc:
        raise ValueError(exc.message.removeprefix("image.base: ")) from None
    if ref.kind == "scratch":
        raise ValueError(scratch)
    return ref
