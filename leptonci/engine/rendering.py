"""Rendering what a plan writes before anything is written: kustomize must accept it.

A plan that pins a release into manifests kustomize cannot render (a YAML-tagged
``newTag``, a kustomization split into several documents that the installed kustomize
refuses) would commit a folder the cluster can never apply. Every landing, dry or real,
copies the top folder of each environment it changes (``environments/`` holds the
overlays and the bases they name) into a temporary directory, applies the plan's file
writes there, and renders each changed environment. Without kubectl or kustomize
installed the check is skipped, and the plan says so.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from leptonci.adapters import kustomize
from leptonci.core.actions import WriteFile
from leptonci.core.config import EnvironmentConfig
from leptonci.core.errors import ConfigError
from leptonci.core.plan import Plan

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
    tops = sorted({e.path.split("/", 1)[0] for e in changed})
    with tempfile.TemporaryDirectory(prefix="leptonci-render-") as tmp:
        copy = Path(tmp)
        for top in tops:
            if (root / top).is_dir():
                shutil.copytree(root / top, copy / top, symlinks=True)
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
