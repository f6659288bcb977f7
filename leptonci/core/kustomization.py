"""The file names kustomize reads a folder's kustomization from, and which files are manifests.

Every reader of an environment folder (the folder reader, the editor, validate, the
direct apply) asks this module, so all three names kustomize accepts are handled alike.
"""

from __future__ import annotations

from collections.abc import Iterable

from leptonci.core.errors import ConfigError

# kustomize accepts exactly these three names (and refuses a folder holding more than one).
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
MANIFEST_SUFFIXES = (".yaml", ".yml")


def is_kustomization_file(path: str) -> bool:
    """Whether the last part of a "/"-separated ``path`` is a kustomization file name."""
    return path.rsplit("/", 1)[-1] in KUSTOMIZATION_FILES


def is_manifest_file(path: str) -> bool:
    """Whether ``path`` is a YAML manifest: ``*.yaml``, ``*.yml`` or ``Kustomization``."""
    return path.endswith(MANIFEST_SUFFIXES) or is_kustomization_file(path)


def kustomization_name(names: Iterable[str], *, folder: str) -> str | None:
    """The one kustomization file among a folder's file ``names``; None when there is none.

    Several is what kustomize refuses too ("Found multiple kustomization files").
    """
    present = set(names)
    found = [n for n in KUSTOMIZATION_FILES if n in present]
    if len(found) > 1:
        raise ConfigError(
            f"{folder} holds several kustomization files ({', '.join(found)})",
            file=folder,
            hint="keep one: kustomize refuses a folder with more than one",
        )
    return found[0] if found else None
