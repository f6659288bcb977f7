"""A promotion records only what the manifests run: every kustomization name kustomize
accepts is pinned, a plan that pins nothing stops before writing, and a folder that
kustomize cannot render once pinned is never committed."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from leptonci.adapters import kube
from leptonci.commands.promote import run as promote_command
from leptonci.commands.validate import run as validate_command
from leptonci.core.errors import ConfigError
from leptonci.core.ledger import ReleaseRecord
from tests.fixtures.git_repo import (
    REPO,
    Clone,
    enter_release,
    fake_record,
    make_clone,
    promote,
    seed_remote,
)
from tests.services import require


def _kubectl() -> None:
    if shutil.which("kubectl") is None:
        require("kubectl", "renders the overlays")


BAKE = REPO / "docs/examples/bake"
SERVER = "tensorflow/serving@sha256:" + "f7" * 32


def _baked_remote(tmp_path: Path) -> Path:
    """The example in the bake shape (docs/examples/bake): each overlay pins the serving
    container through kustomize ``images:``, the shape whose kustomization leptonci edits."""
    envs = {f"environments/base/{f.name}": f.read_text() for f in (BAKE / "base").iterdir()}
    overlay = (BAKE / "dev/kustomization.yaml").read_text()
    for env in ("dev", "staging", "prod"):
        envs[f"environments/{env}/kustomization.yaml"] = overlay.replace("ml-dev", f"ml-{env}")
    config = (REPO / "leptonci.yaml").read_text()
    assert "shape: volume" in config
    config = config.replace("shape: volume", f"shape: bake\n      base: {SERVER}")
    return seed_remote(tmp_path, config_text=config, envs=envs)


def _reshaped_clone(tmp_path: Path, *, rename: str | None = None, **files: str) -> Clone:
    """The baked example with dev's kustomization.yaml renamed to ``rename`` and ``files``
    (path relative to environments/dev -> text) written, committed and pushed."""
    clone = make_clone(_baked_remote(tmp_path), tmp_path / "clone")
    for env in ("dev", "staging", "prod"):  # the volume shape's patches, unused here
        clone.git("rm", "--quiet", f"environments/{env}/model.yaml")
    dev = clone.root / "environments/dev"
    if rename is not None:
        clone.git("mv", "environments/dev/kustomization.yaml", f"environments/dev/{rename}")
    for rel, text in files.items():
        (dev / rel).write_text(text)
    clone.git("add", "--all")
    clone.git("commit", "--quiet", "-m", "reshape dev")
    clone.git("push", "--quiet", "origin", "main")
    return clone


def _released_clone(tmp_path: Path) -> Clone:
    """The baked example with one release current in dev."""
    clone = _reshaped_clone(tmp_path)
    enter_release(clone, fake_record(seed="1"))
    clone.pull()
    return clone


def _tip(clone: Clone) -> str:
    return clone.remote_git("rev-parse", "main")


@pytest.mark.parametrize("name", ["Kustomization", "kustomization.yml"])
def test_a_release_is_pinned_in_every_kustomization_name(
    tmp_path: Path, pinned_git: None, name: str
) -> None:
    _kubectl()
    clone = _reshaped_clone(tmp_path, rename=name)
    record = fake_record(seed="k")
    enter_release(clone, record)
    changed = clone.remote_git("show", "--name-only", "--format=", "main").split()
    assert changed == [f"environments/dev/{name}", "environments/dev/ledger.yaml"]
    clone.pull()
    rendered = subprocess.run(
        ["kubectl", "kustomize", str(clone.root / "environments/dev")],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    assert f"{record.image}:{record.release}@{record.digest}" in rendered


def test_validate_and_direct_apply_read_a_kustomization_named_kustomization(
    tmp_path: Path, pinned_git: None
) -> None:
    _kubectl()
    clone = _reshaped_clone(tmp_path, rename="Kustomization")
    ctx = clone.ctx()
    assert validate_command(ctx) == 0, ctx.out.stderr.getvalue()  # type: ignore[attr-defined]
    assert "kind: Deployment" in kube.render_overlay(clone.root, "environments/dev")


def test_two_kustomization_names_in_one_folder_are_refused(
    tmp_path: Path, pinned_git: None
) -> None:
    clone = _reshaped_clone(tmp_path, **{"Kustomization": "resources: []\n"})
    with pytest.raises(ConfigError, match="several kustomization files"):
        kube.render_overlay(clone.root, "environments/dev")


def test_a_promotion_that_pins_nothing_stops_before_writing(
    tmp_path: Path, pinned_git: None
) -> None:
    # dev's folder holds no kustomization and no workload naming the image
    clone = _reshaped_clone(tmp_path, rename="notes.txt")
    before = _tip(clone)
    with pytest.raises(ConfigError, match="manifests in environments/dev do not pin") as err:
        enter_release(clone, fake_record(seed="n"))
    assert err.value.exit_code == 2 and err.value.file == "environments/dev"
    assert _tip(clone) == before
    assert clone.git("status", "--porcelain") == ""


def test_an_entry_left_to_flux_setters_is_not_recorded_without_a_policy(
    tmp_path: Path, pinned_git: None
) -> None:
    text = (
        "resources:\n  - ../base\nimages:\n  - name: leptonci/digits\n"
        '    newName: leptonci/digits # {"$imagepolicy": "flux-system:digits:name"}\n'
        '    newTag: unreleased # {"$imagepolicy": "flux-system:digits:tag"}\n'
    )
    clone = _reshaped_clone(tmp_path, **{"kustomization.yaml": text})
    before = _tip(clone)
    with pytest.raises(ConfigError, match="do not pin") as err:
        enter_release(clone, fake_record(seed="s"))
    assert "image.flux_policy" in (err.value.hint or "")
    assert _tip(clone) == before


def test_a_pin_kustomize_cannot_render_is_never_committed(tmp_path: Path, pinned_git: None) -> None:
    example_clone = _released_clone(tmp_path)
    _kubectl()
    # a YAML-tagged newTag: leptonci's editor keeps the tag, kustomize refuses the int
    path = example_clone.root / "environments/staging/kustomization.yaml"
    path.write_text(path.read_text().replace("newTag: unreleased", "newTag: !!int 5"))
    example_clone.git("commit", "--quiet", "-am", "tag staging's newTag")
    example_clone.git("push", "--quiet", "origin", "main")
    before = _tip(example_clone)
    with pytest.raises(ConfigError, match="folder does not render with kustomize") as err:
        promote(example_clone, "staging")
    assert err.value.file == "environments/staging"
    assert "as a !!int" in str(err.value)  # kustomize's own reason, not a lost base
    assert "leptonci-render-" not in str(err.value)  # no temporary path in the message
    assert _tip(example_clone) == before
    assert example_clone.git("status", "--porcelain") == ""


def test_a_dry_run_renders_the_same_check(tmp_path: Path, pinned_git: None) -> None:
    example_clone = _released_clone(tmp_path)
    _kubectl()
    path = example_clone.root / "environments/staging/kustomization.yaml"
    path.write_text(path.read_text().replace("newTag: unreleased", "newTag: !!int 5"))
    example_clone.git("commit", "--quiet", "-am", "tag staging's newTag")
    example_clone.git("push", "--quiet", "origin", "main")
    with pytest.raises(ConfigError, match="folder does not render with kustomize"):
        promote_command(
            example_clone.ctx(dry_run=True), to="staging", release=None, force=False, reason=None
        )


def test_a_multi_document_kustomization_is_refused_before_writing(
    release_in_dev: ReleaseRecord, example_clone: Clone
) -> None:
    # kustomize reads only the first document of a kustomization file: a pin in another
    # would be recorded and never run, whatever the installed kustomize says
    path = example_clone.root / "environments/staging/kustomization.yaml"
    path.write_text(path.read_text() + "---\nimages:\n  - name: leptonci/digits\n    newTag: x\n")
    example_clone.git("commit", "--quiet", "-am", "a second document")
    example_clone.git("push", "--quiet", "origin", "main")
    before = _tip(example_clone)
    with pytest.raises(ConfigError, match="holds 2 YAML documents") as err:
        promote(example_clone, "staging")
    assert err.value.exit_code == 2
    assert _tip(example_clone) == before and example_clone.git("status", "--porcelain") == ""
