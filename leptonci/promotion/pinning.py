"""What a release pins in an environment's manifests, and the refusal when they do not.

The ledger never records what the manifests do not run: a plan whose edit leaves the
release's image unpinned (no kustomization under any of its names, fields left to Flux
setters, setter mode without a setter) stops here, naming the folder (exit 2).
"""

from __future__ import annotations

from leptonci.core.config import Config
from leptonci.core.errors import ConfigError
from leptonci.core.kustomization import KUSTOMIZATION_FILES
from leptonci.core.ledger import ReleaseRecord
from leptonci.manifests import ImageTarget
from leptonci.promotion.state import EnvState


def image_target(
    config: Config, record: ReleaseRecord, *, previous: tuple[str, ...] = ()
) -> ImageTarget:
    """The pin of record's image, in the model's Flux setter mode when it has a policy;
    ``previous``: repositories the environment pinned the image under before."""
    return ImageTarget(
        name=config.image_name(record.model),
        new_name=record.image,
        tag=record.release,
        digest=record.digest,
        policy=config.model(record.model).image.flux_policy,
        previous=previous,
    )


def unpinned(
    target: EnvState, image: ImageTarget, record: ReleaseRecord, *, recorded: bool = False
) -> ConfigError:
    """The refusal of a plan that would record ``record`` in a ledger (or find it
    ``recorded`` there) while the environment's manifests do not run its image."""
    folder = target.env.path
    if recorded:
        hint = (
            f"the folder was changed by hand, or a pin was lost: pin {image.new_name}@"
            f"{record.digest} in {folder} and commit it, or roll {target.name} back"
        )
    elif image.policy is not None:
        hint = (
            f"setter mode ({record.model}'s image.flux_policy: {image.policy}): mark the "
            f'fields to pin with `# {{"$imagepolicy": "{image.policy}"}}` (or its :name, '
            ":tag and :digest parts)"
        )
    elif any("$imagepolicy" in text for text in target.files.values()):
        hint = (
            "fields carrying Flux setter comments are left to their setters: set "
            f"models.{record.model}.image.flux_policy in leptonci.yaml to pin through them"
        )
    else:
        hint = (
            f"add a kustomization ({', '.join(KUSTOMIZATION_FILES)}) to {folder}, or an "
            f"image: field naming {image.name}"
        )
    return ConfigError(
        f"the manifests in {folder} do not pin {record.release} ({image.name} as "
        f"{image.new_name}@{record.digest}): "
        + (
            "its ledger says it runs there, its manifests do not"
            if recorded
            else "the ledger would record what does not run"
        ),
        file=folder,
        hint=hint,
    )
