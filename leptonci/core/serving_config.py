"""The ``serving:`` section of a model in ``leptonci.yaml``: how the model image is served.

Three shapes (docs/serving.md):

- ``volume``: a stock TensorFlow Serving container (pinned by digest in the manifests)
  mounts the model-only image as a Kubernetes image volume at ``model_base_path/MODEL``;
  leptonci pins the volume's ``image.reference``. Needs image volumes (Kubernetes 1.35+).
- ``bake``: the model layer appended onto ``base``, a serving image pinned by digest; the
  manifests run the baked image in the serving container. For older clusters.
- ``kserve``: a KServe InferenceService whose ``storageUri`` is ``oci://`` the model image.

Unknown keys and impossible values fail the schema, so the loader in ``config.py``
reports them with file, line and key like any other config error. ``validate`` checks
the rendered manifests against the shape (``leptonci/engine/serving.py``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, field_validator

from leptonci.core.imageref import is_digest
from leptonci.core.images import named_image, parse_base

DNS_LABEL = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
# Kubernetes releases where image volumes are on by default (beta in 1.35, GA in 1.36)
IMAGE_VOLUMES_SINCE = (1, 35)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VolumeServing(_Model):
    """A stock server container with the model image mounted as an image volume."""

    shape: Literal["volume"]
    container: str = Field(default="serving", pattern=DNS_LABEL)  # the server's container
    volume: str = Field(default="model", pattern=DNS_LABEL)  # the image volume's name


class BakeServing(_Model):
    """The model layer appended onto a serving base image pinned by digest."""

    shape: Literal["bake"]
    base: str  # HOST/REPO[:TAG]@sha256:..., or oci-layout:DIR@sha256:...
    container: str = Field(default="serving", pattern=DNS_LABEL)

    @field_validator("base")
    @classmethod
    def _pinned(cls, value: str) -> str:
        ref = named_image(
            value, scratch="bake needs a serving base image (e.g. tensorflow/serving@sha256:...)"
        )
        if not is_digest(ref.reference):
            raise ValueError(
                f"base {value!r} is not pinned by digest: write it as REF@sha256:<64 hex> "
                "(a tag can move under a release)"
            )
        return value


class KServeServing(_Model):
    """A KServe InferenceService with the model image as its ``oci://`` storageUri."""

    shape: Literal["kserve"]
    inference_service: str | None = Field(default=None, pattern=DNS_LABEL)  # default: any


def _serving_shape(value: Any) -> str | None:
    if isinstance(value, Mapping):
        return value.get("shape")  # type: ignore[no-any-return]
    return getattr(value, "shape", None)


ServingConfig = Annotated[
    Annotated[VolumeServing, Tag("volume")]
    | Annotated[BakeServing, Tag("bake")]
    | Annotated[KServeServing, Tag("kserve")],
    Discriminator(_serving_shape),
]
SERVING_SHAPES = ("volume", "bake", "kserve")


def build_base(image_base: str, serving: VolumeServing | BakeServing | KServeServing | None) -> str:
    """The base the model image is built on: bake's serving base, else ``image.base``."""
    return serving.base if isinstance(serving, BakeServing) else image_base


def base_conflict(
    image_base: str, serving: VolumeServing | BakeServing | KServeServing | None
) -> str | None:
    """Why ``image.base`` contradicts the serving shape, or None."""
    if serving is None or parse_base(image_base).kind == "scratch":
        return None
    if isinstance(serving, BakeServing):
        return "give the serving base once, as serving.base (image.base stays scratch)"
    return (
        f"shape {serving.shape} serves a model-only image: image.base must be scratch "
        "(use shape bake for a model baked into a server)"
    )
