"""The image a pin writes: the name manifests use for it and the reference that runs."""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property

from leptonci.core.errors import ConfigError
from leptonci.core.image_config import FLUX_POLICY_RE
from leptonci.core.imageref import HINTS, ImageRef, is_digest, is_tag


@dataclass(frozen=True)
class ImageTarget:
    """The image to pin: manifests call it ``name``; it runs as ``new_name[:tag]@digest``."""

    name: str  # image name used in manifests, e.g. "leptonci/digits"
    new_name: str  # repository to pin, e.g. "127.0.0.1:5000/ns/digits"
    tag: str | None
    digest: str  # "sha256:<64 hex>"
    policy: str | None = None  # Flux "ns:policy" whose setter comments to apply
    # Repositories the image was pinned under before (the environment's ledger says which):
    # a field kustomize cannot reach holds the pinned repository, not ``name``, and must
    # still match when the registry moved.
    previous: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_name("image name", self.name)
        _check_name("image repository", self.new_name)
        for old in self.previous:
            _check_name("earlier image repository", old)
        if not isinstance(self.digest, str) or not is_digest(self.digest):
            raise ConfigError(f"bad digest {self.digest!r} for an image pin", hint=HINTS["digest"])
        if self.tag is not None and not is_tag(self.tag):
            raise ConfigError(f"bad image tag {self.tag!r} for an image pin", hint=HINTS["tag"])
        if self.policy is not None and not FLUX_POLICY_RE.fullmatch(self.policy):
            raise ConfigError(
                f"bad Flux image policy {self.policy!r}", hint="write it as NAMESPACE:POLICY"
            )

    @cached_property
    def names(self) -> frozenset[str]:
        """Every repository a field holding this image may name."""
        return frozenset((self.name, self.new_name, *self.previous))

    @cached_property  # edits read it once per matched field
    def image(self) -> ImageRef:
        """The pinned reference: ``new_name[:tag]@digest``."""
        return replace(ImageRef.parse(self.new_name), tag=self.tag, digest=self.digest)

    @cached_property
    def ref(self) -> str:
        """The pinned reference as manifests spell it."""
        return str(self.image)


def _check_name(label: str, value: object) -> None:
    """``value`` must be an image name alone: ``[HOST[:PORT]/]PATH``, no tag, no digest."""
    if not isinstance(value, str):
        raise ConfigError(f"bad {label} {value!r} for an image pin", hint=HINTS["repository"])
    try:
        ref = ImageRef.parse(value)
    except ConfigError as exc:
        raise ConfigError(f"bad {label} for an image pin: {exc.message}", hint=exc.hint) from None
    if ref.tag is not None or ref.digest is not None:
        raise ConfigError(
            f"bad {label} {value!r} for an image pin: it has a tag or digest",
            hint="give the name alone, e.g. 'team/model' or 'ghcr.io/org/model'",
        )
