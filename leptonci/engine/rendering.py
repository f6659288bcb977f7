"""Rendering what a plan writes before anything is written: kustomize must accept it.

A plan that pins a release into manifests kustomize cannot render (a YAML-tagged
``newTag``, a kustomization split into several documents that the installed kustomize
refuses) would commit a folder the cluster can never apply. Every landing, dry or real,
copies each environment it changes, and the folders its kustomization names
(``resources``, ``components``, ``bases``: the base, recursively), into a temporary
directory, applies the plan's file writes there, and renders each changed environment.
Without kubectl or kustomize installed the check is skipped, and the plan says so.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from leptonci.adapters import kustomize
from leptonci.core.actions import WriteFile
from leptonci.core.config import EnvironmentConfig
from leptonci.core.errors import ConfigError
from leptonci.core.kustomization import kustomization_name
from leptonci.core.plan import Plan
from leptonci.core.yamldoc import load_yaml_with_lines, plain

NO_RENDERER = "not rendered before writing: neither kubectl nor kustomize is installed"


def check_renders(root: Path, plan: Plan, envs: Sequence[EnvironmentConfig]) -> str | None:
    """Raise ConfigError when an environment ``plan`` changes no longer renders; a note
    when nothing could render it, else None."""
    writes = [a for a in plan.actions if isinstance(a, WriteFile)]
    changed = [e for e in envs if any(_under(w.path, e.path) for w in writes)]
    if not changed:
        return None
    if kustomize.renderer() is None:
        return NO_RENDERER
    root = root.resolve()
    planned = {w.path: w.new for w in writes}
    folders: set[Path] = set()
    for env in changed:
        _folders(root, root / env.path, planned, folders)
    with tempfile.TemporaryDirectory(prefix="leptonci-render-") as tmp:
        copy = Path(tmp)
        for folder in sorted(folders):
            rel = folder.relative_to(root)
            shutil.copytree(folder, copy / rel, symlinks=True, dirs_exist_ok=True)
        for write in writes:
            target = copy / write.path
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(write.new)
        for env in changed:
            try:
                kustomize.render(copy, env.path)
            except ConfigError as exc:
                detail = exc.detail.replace(f"{copy}/", "")
                raise ConfigError(
                    "as planned, the folder does not render with kustomize, so nothing was "
                    f"written: {detail}",
                    file=env.path,
                    hint="fix the overlay so `kubectl kustomize` renders it, then rerun",
                ) from None
    return None


def _under(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _folders(root: Path, folder: Path, planned: Mapping[str, str], found: set[Path]) -> None:
    """``folder`` and every folder inside ``root`` (resolved) its kustomization names,
    recursively (as the plan would leave the kustomization)."""
    folder = folder.resolve()
    if folder in found or not folder.is_dir() or not folder.is_relative_to(root):
        return
    found.add(folder)
    name = kustomization_name((p.name for p in folder.iterdir()), folder=str(folder))
    if name is None:
        return
    rel = (folder / name).relative_to(root).as_posix()
    data = None
    for text in (planned.get(rel), (folder / name).read_text()):
        try:  # the folders as planned; if the plan's text is unreadable, as they are now
            data = plain(load_yaml_with_lines(text, file=rel)) if text is not None else None
        except (ConfigError, ValueError, TypeError):
            continue  # kustomize reports what is wrong with it, in its own words
        if data is not None:
            break
    if not isinstance(data, dict):
        return
    for key in ("resources", "components", "bases"):
        for entry in data.get(key) or []:
            if isinstance(entry, str) and "://" not in entry:
                _folders(root, folder / entry, planned, found)
