"""Rendering a plan's writes with kustomize before anything is written (engine/rendering)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from leptonci.adapters import kustomize
from leptonci.core.actions import WriteFile
from leptonci.core.config import EnvironmentConfig
from leptonci.core.errors import ConfigError
from leptonci.core.plan import Plan
from leptonci.engine.rendering import NO_RENDERER, check_renders
from tests.services import require

DEPLOYMENT = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: serving\nspec:\n"
    "  selector:\n    matchLabels: {app: s}\n  template:\n    metadata:\n"
    "      labels: {app: s}\n    spec:\n      containers:\n        - name: s\n"
    "          image: leptonci/digits\n"
)
OVERLAY = "resources:\n  - ../shared/base\nimages:\n  - name: leptonci/digits\n    newTag: {tag}\n"


def _repo(root: Path) -> EnvironmentConfig:
    """Overlays at the repository root (dev/), their base elsewhere (shared/base/)."""
    (root / "shared" / "base").mkdir(parents=True)
    (root / "shared" / "base" / "kustomization.yaml").write_text("resources:\n  - app.yaml\n")
    (root / "shared" / "base" / "app.yaml").write_text(DEPLOYMENT)
    (root / "dev").mkdir()
    (root / "dev" / "Kustomization").write_text(OVERLAY.format(tag="old"))
    (root / "model_repo").mkdir()  # not named by any kustomization: not copied
    return EnvironmentConfig(name="dev", path="dev")


def _plan(text: str) -> Plan:
    return Plan("t", (WriteFile(summary="pin", path="dev/Kustomization", old=None, new=text),))


def _kubectl() -> None:
    if kustomize.renderer() is None:
        require("kubectl", "renders the overlays")


def test_the_base_an_overlay_names_is_rendered_wherever_it_lives(tmp_path: Path) -> None:
    _kubectl()
    env = _repo(tmp_path)
    assert check_renders(tmp_path, _plan(OVERLAY.format(tag="r-1")), [env]) is None


def test_a_write_kustomize_refuses_stops_it(tmp_path: Path) -> None:
    _kubectl()
    env = _repo(tmp_path)
    with pytest.raises(ConfigError, match="does not render") as err:
        check_renders(tmp_path, _plan(OVERLAY.format(tag="!!int 5")), [env])
    assert err.value.file == "dev" and str(tmp_path) not in str(err.value)
    assert "old" in (tmp_path / "dev" / "Kustomization").read_text()  # nothing written


def test_without_kustomize_the_plan_says_it_was_not_rendered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _repo(tmp_path)
    monkeypatch.setattr(shutil, "which", lambda _: None)  # neither tool on PATH
    assert check_renders(tmp_path, _plan(OVERLAY.format(tag="r-1")), [env]) == NO_RENDERER
