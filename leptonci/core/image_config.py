"""The ``image:`` section of a model in ``leptonci.yaml``: where its image goes, what it
is called in the manifests, what it is built on, and the Flux policy whose setter
comments pin it (``flux_policy``: ``NAMESPACE:NAME`` of a Flux ImagePolicy).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, field_validator

from leptonci.core.errors import ConfigError
from leptonci.core.imageref import is_repository
from leptonci.core.images import parse_base

# A Flux ImagePolicy as its setter comments name it: "NAMESPACE:NAME" (DNS labels/subdomains)
FLUX_POLICY_RE = re.compile(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?:[a-z0-9]([-a-z0-9.]*[a-z0-9])?")
# Where the manifests pin the image is not an input of the model: not in the content hash.
UNHASHED_IMAGE_KEYS = frozenset({"flux_policy"})


class ImageConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    repository: str | None = None  # repository under the registry; default: the model name
    name: str | None = None  # image name in the manifests; default: the repository
    base: str = "scratch"  # scratch, a registry reference, or oci-layout:DIR[:TAG]
    dockerfile: str | None = None  # docker builder: a template in the model folder
    model_base_path: str = "/models"
    # Flux setter mode: pin only where `# {"$imagepolicy": "<flux_policy>[:field]"}` says
    flux_policy: str | None = None

    @field_validator("repository", "name")
    @classmethod
    def _ref_chars(cls, value: str | None) -> str | None:
        if value is not None and not is_repository(value):
            raise ValueError(f"{value!r} is not a valid image repository name")
        return value

    @field_validator("base")
    @classmethod
    def _base(cls, value: str) -> str:
        """Checked when the config loads (the file, line and key known), not at build."""
        try:
            parse_base(value)
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix("image.base: ")) from None
        return value

    @field_validator("flux_policy")
    @classmethod
    def _policy(cls, value: str | None) -> str | None:
        if value is not None and not FLUX_POLICY_RE.fullmatch(value):
            raise ValueError(f"{value!r} is not a Flux image policy: write it as NAMESPACE:NAME")
        return value
