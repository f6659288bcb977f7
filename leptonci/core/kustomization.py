"""The file names kustomize reads a folder's kustomization from."""

from __future__ import annotations

# kustomize accepts exactly these three names (and refuses a folder holding more than one).
KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


def is_kustomization_file(path: str) -> bool:
    """Whether the last part of a "/"-separated ``path`` is a kustomization file name."""
    return path.rsplit("/", 1)[-1] in KUSTOMIZATION_FILES
