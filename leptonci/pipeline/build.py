"""`leptonci build MODEL`: build the serving image for a candidate and push it by digest.

``build_image`` computes the plan (for the daemonless builder including the digest,
which is known before the push because the image is reproducible); ``push_image``
applies it and reads the digest back from the destination. Settings read from the
environment: ``LEPTONCI_REGISTRY`` (destination override, in ``Context``),
``LEPTONCI_REGISTRY_USERNAME`` / ``_PASSWORD`` (credentials),
``LEPTONCI_REGISTRY_PLAIN_HTTP`` (extra hosts spoken to over http; loopback always is),
``LEPTONCI_REGISTRY_RETRIES`` and ``LEPTONCI_REGISTRY_RETRY_DELAY`` (seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich import filesize

from leptonci.adapters.git import Git, SourceInfo
from leptonci.adapters.images.credentials import registry_credentials
from leptonci.adapters.images.daemonless import (
    BaseImage,
    ImageArtifact,
    PendingImage,
    build_artifact,
    load_layout_base,
    prepare_image,
)
from leptonci.adapters.images.dockerbuild import default_dockerfile, docker_build, docker_push
from leptonci.adapters.images.layercache import RECORD_FILE, LayerRecord
from leptonci.adapters.images.layout import OciLayout, json_object, reading
from leptonci.adapters.images.registry import RegistryClient
from leptonci.adapters.images.transfer import (
    ProgressFactory,
    load_registry_base,
    push_to_layout,
    push_to_registry,
)
from leptonci.core.actions import PushImage, Step
from leptonci.core.candidate import Candidate
from leptonci.core.config import CONFIG_FILE
from leptonci.core.errors import ConfigError, RegistryError, TagTaken
from leptonci.core.files import read_text
from leptonci.core.images import (
    BuildSpec,
    Destination,
    image_tags,
    parse_base,
    parse_destination,
)
from leptonci.core.plan import Plan
from leptonci.core.serving_config import build_base
from leptonci.runtime.context import Context
from leptonci.runtime.images import registry_client

STORE_DIR = "images"  # under the cache folder: the daemonless builder's blob store


@dataclass(frozen=True)
class BuiltImage:
    image: str  # HOST/NAMESPACE/REPO, or REPO for an oci-layout destination
    digest: str  # read back from the destination after the push
    tags: tuple[str, ...]
    size: int
    bytes_sent: int  # blob bytes transferred; -1 when the engine pushed (docker builder)

    @property
    def reference(self) -> str:
        return f"{self.image}@{self.digest}"


@dataclass(frozen=True)
class BuildPlan:
    plan: Plan
    spec: BuildSpec
    destination: Destination
    builder: str  # "daemonless" | "docker"
    artifact: ImageArtifact | None = None  # daemonless: the built image (digest known)
    stored: bool = False  # daemonless: blobs already in the store (not a dry run)
    # daemonless to a registry: the model layer, planned but not read; it streams to the
    # registry in one pass and its digest is learnt there (unless already recorded)
    pending: PendingImage | None = None

    @property
    def digest(self) -> str | None:
        return self.artifact.digest if self.artifact is not None else None


def _verdict_label(verdict: str) -> str:
    if verdict not in ("passed", "failed", "not-gated"):
        raise ConfigError(f"verdict {verdict!r} must be passed, failed or not-gated")
    return verdict


def load_base(ctx: Context, base: str) -> BaseImage | None:
    """The base image a build starts from (None for scratch), read from its registry or layout."""

    ref = parse_base(base)
    if ref.kind == "scratch":
        return None
    if ref.kind == "layout":
        return load_layout_base(ref, ctx.root / ref.layout_dir)
    return load_registry_base(ref, registry_client(ctx, ref.host))


def build_store(ctx: Context) -> Any:
    """The daemonless builder's blob store, under the cache folder."""

    return OciLayout(ctx.cache_dir / STORE_DIR)


def _layer_record(ctx: Context, spec: BuildSpec) -> LayerRecord:
    """The layer digests kept in the candidate's folder (export_dir is ROOT/MODEL/VERSION)."""

    return LayerRecord(spec.export_dir.parent.parent / RECORD_FILE, writable=not ctx.dry_run)


def build_image(
    ctx: Context, *, candidate: Candidate, release: str, verdict: str, source: SourceInfo
) -> BuildPlan:
    """The plan to build and push candidate's image (for daemonless: built, not pushed)."""
    config = ctx.config
    model = config.model(candidate.model)
    destination = parse_destination(config.registry)
    repo = config.image_repository(candidate.model)
    spec = BuildSpec(
        model=candidate.model,
        version=candidate.version,
        export_dir=candidate.export_dir,
        repository=repo,
        release=release,
        verdict=_verdict_label(verdict),
        content_hash=candidate.content_hash,
        source_commit=source.commit,
        source_time=source.time,
        source_url=source.url,
        base=build_base(model.image.base, model.serving),
        model_base_path=model.image.model_base_path,
        tags=image_tags(release, source.short if source.commit else ""),
    )
    where = destination.describe(repo)
    tags = ", ".join(spec.tags)
    if config.builder == "docker":
        if destination.kind != "registry":
            raise ConfigError(
                "the docker builder pushes through the engine and needs a registry",
                key="builder",
                hint="set registry: HOST/NAMESPACE, or use builder: daemonless for oci-layout",
            )
        plan = Plan(f"build {candidate.model} image {release}").then(
            Step(summary=f"docker build {spec.model_dir}/ on {spec.base}", name="docker-build"),
            PushImage(summary=f"push {where} tags {tags}", repository=where, tags=spec.tags),
        )
        return BuildPlan(plan, spec, destination, "docker")

    base = load_base(ctx, spec.base)
    record = _layer_record(ctx, spec)
    artifact: ImageArtifact | None
    pending = None
    if destination.kind == "layout":
        # the layer goes through the store (a dry run only hashes it, unless recorded)
        store = None if ctx.dry_run else build_store(ctx)
        artifact = build_artifact(spec, base=base, store=store, record=record)
        size = artifact.size
    else:
        # nothing is read to plan a registry push, dry or not (the same plan either
        # way): the push streams the layer once and learns its digest then, unless
        # the candidate's layer record already knows it
        store = None
        pending = prepare_image(spec, base=base, record=record)
        artifact = pending.artifact
        size = pending.size
    at = f"@{artifact.digest}" if artifact is not None else ""
    later = "" if artifact is not None else "; digest computed while streaming"
    plan = Plan(f"build {candidate.model} image {release}").then(
        Step(summary=f"write OCI image {spec.model_dir}/ on {spec.base}", name="daemonless-build"),
        PushImage(
            summary=f"push {where}{at} tags {tags} ({size_text(size)}{later})",
            repository=where,
            tags=spec.tags,
            digest=artifact.digest if artifact is not None else None,
            size=size,
        ),
    )
    return BuildPlan(
        plan,
        spec,
        destination,
        "daemonless",
        artifact,
        stored=store is not None,
        pending=pending,
    )


def size_text(n: int) -> str:
    """A byte count for people, in the one unit system every output uses: rich's decimal
    units (kB, MB, GB), as its progress bars show them."""
    return filesize.decimal(n)


def _progress(ctx: Context, repo: str) -> ProgressFactory:
    def start(total: int) -> tuple[Any, Any]:
        bar = ctx.out.progress(total, f"push {repo}", unit="bytes")
        return (lambda amount: bar.advance(amount)), bar.close

    return start


def push_image(ctx: Context, build: BuildPlan) -> BuiltImage:
    """Apply a build plan: push, then read the digest back. Raises on any failure."""
    spec, dest = build.spec, build.destination
    if build.builder == "docker":
        return _push_with_docker(ctx, build)

    store = build_store(ctx)
    progress = _progress(ctx, spec.repository)
    if dest.kind == "layout":
        artifact = build.artifact
        if artifact is None or not build.stored:
            base = load_base(ctx, spec.base)
            artifact = build_artifact(spec, base=base, store=store, record=_layer_record(ctx, spec))
            if build.artifact is not None and artifact.digest != build.artifact.digest:
                raise ConfigError(
                    f"{spec.model}: the model changed between plan and push; run again"
                )
        layout = OciLayout(ctx.root / dest.layout_dir / spec.repository)
        result = push_to_layout(
            artifact, store=store, layout=layout, tags=spec.tags, progress=progress
        )
    else:
        image = build.pending if build.pending is not None else build.artifact
        if image is None:
            raise ConfigError(f"{spec.model}: the build plan holds no image; run again")
        repo = dest.repository(spec.repository)
        client = registry_client(ctx, dest.host)
        result = push_to_registry(
            image, store=store, client=client, repo=repo, tags=spec.tags, progress=progress
        )
    size = result.artifact.size if result.artifact is not None else 0
    return BuiltImage(
        dest.image(spec.repository), result.digest, spec.tags, size, result.bytes_sent
    )


def _push_with_docker(ctx: Context, build: BuildPlan) -> BuiltImage:

    spec, dest = build.spec, build.destination
    model = ctx.config.model(spec.model)
    dockerfile = default_dockerfile()
    if model.image.dockerfile:
        dockerfile = read_text(ctx.root / model.path / model.image.dockerfile, root=ctx.root)
    image = dest.image(spec.repository)
    repo = dest.repository(spec.repository)
    client = registry_client(ctx, dest.host)
    for tag in spec.tags:
        # an engine build is not byte for byte reproducible and the engine's push moves
        # tags: a tag already in the registry is refused before anything is pushed
        if (there := client.manifest_digest(repo, tag)) is not None:
            raise TagTaken(
                f"{image}:{tag} is already {there}: a pushed tag is never moved, and the "
                "docker builder cannot rebuild that image byte for byte",
                hint="promote the release already pushed, or use builder: daemonless "
                "(reproducible: the same model gives the same digest)",
            )
    docker_build(spec, image=image, dockerfile=dockerfile, env=ctx.env)
    docker_push(
        image=image,
        tags=spec.tags,
        credentials=registry_credentials(dest.host, ctx.env),
        env=ctx.env,
    )
    digest = client.manifest_digest(repo, spec.tags[0])
    if digest is None:
        raise RegistryError(f"registry {dest.host} has no {repo}:{spec.tags[0]} after docker push")
    size = _registry_image_size(client, repo, digest)
    return BuiltImage(image, digest, spec.tags, size, -1)


def _registry_image_size(client: RegistryClient, repo: str, digest: str) -> int:

    data, _ = client.get_manifest(repo, digest)
    what = f"registry {client.host}: {repo}@{digest[:19]}"
    manifest = json_object(data, what)
    with reading(what):
        blobs = [manifest.get("config") or {}, *(manifest.get("layers") or [])]
        return len(data) + sum(int(b.get("size", 0)) for b in blobs)


def model_source(ctx: Context, model: str) -> SourceInfo:
    """The commit a model's inputs (its folder and the config) last changed in.

    Labels, and so the daemonless digest, derive from it, so every command that builds
    the same model must ask this one function.
    """

    return Git(ctx.root).source_info(
        [ctx.config.model(model).path, CONFIG_FILE], remote=ctx.config.git.remote
    )
