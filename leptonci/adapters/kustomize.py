"""Rendering an environment overlay with kustomize (kubectl's built-in, or the binary)."""

from __future__ import annotations

import shutil
from pathlib import Path

from leptonci.adapters import proc
from leptonci.core.errors import CommandFailed, ConfigError
from leptonci.core.kustomization import kustomization_name


def renderer() -> list[str] | None:
    """The command that renders an overlay here, or None when neither tool is installed."""
    if shutil.which("kubectl"):
        return ["kubectl", "kustomize"]
    if shutil.which("kustomize"):
        return ["kustomize", "build"]
    return None


def kustomization_file(folder: Path, *, label: str) -> Path | None:
    """The folder's kustomization (any of the names kustomize accepts), or None."""
    names = [p.name for p in folder.iterdir() if p.is_file()] if folder.is_dir() else []
    name = kustomization_name(names, folder=label)
    return folder / name if name else None


def render(root: Path, env_path: str) -> str:
    """The rendered manifests of the overlay at env_path; a broken overlay is a ConfigError."""
    cmd = renderer()
    if cmd is None:
        raise ConfigError(
            f"{env_path}: cannot render: neither kubectl nor kustomize is installed",
            hint="install kubectl",
        )
    try:
        return proc.run([*cmd, str(root / env_path)], timeout=120).stdout
    except CommandFailed as exc:
        detail = proc.tail(exc.stderr) or exc.message
        raise ConfigError(f"kustomize cannot render the overlay: {detail}", file=env_path) from None
