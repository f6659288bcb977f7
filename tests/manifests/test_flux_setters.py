"""Flux setter comments: setter mode touches only setter fields, never a partial
reference, and Flux's own fixtures (read from ../shared/peer-data, not copied in)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest

from leptonci.core.config import Config
from leptonci.core.errors import ConfigError
from leptonci.core.image_config import ImageConfig
from leptonci.manifests import ImageTarget, edit_folder, edit_text, pins
from leptonci.pipeline.cache import hashed_config
from tests.services import require

DIGEST = "sha256:" + "ab" * 32
POLICY = "flux-system:digits"
TARGET = ImageTarget(
    name="leptonci/digits",
    new_name="127.0.0.1:5000/ns/digits",
    tag="r-1",
    digest=DIGEST,
    policy=POLICY,
)
SETTER_ENTRY = (
    "images:\n  - name: leptonci/digits\n"
    '    newName: old.example/digits # {"$imagepolicy": "flux-system:digits:name"}\n'
    '    newTag: old # {"$imagepolicy": "flux-system:digits:tag"}\n'
)
UNMARKED = (
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\nspec:\n  template:\n"
    "    spec:\n      containers:\n        - name: c\n          image: leptonci/digits:old\n"
)


def test_name_and_tag_setters_without_a_digest_setter_are_refused() -> None:
    with pytest.raises(ConfigError, match="pins by tag alone") as err:
        edit_text(SETTER_ENTRY, TARGET, path="kustomization.yaml")
    assert f"{POLICY}:digest" in (err.value.hint or "") and err.value.line == 3


def test_a_digest_setter_beside_them_pins_the_whole_reference() -> None:
    text = SETTER_ENTRY + (
        '    digest: sha256:00 # {"$imagepolicy": "flux-system:digits:digest"}\n'
    )
    out = edit_text(text, TARGET, path="kustomization.yaml")
    assert "newName: 127.0.0.1:5000/ns/digits # {" in out
    assert "newTag: r-1 # {" in out and f"digest: {DIGEST} # {{" in out
    assert pins({"e/kustomization.yaml": out}, TARGET)


def test_setter_mode_leaves_fields_without_a_setter_alone() -> None:
    files = {"e/kustomization.yaml": "resources:\n  - app.yaml\n", "e/app.yaml": UNMARKED}
    assert edit_folder(files, TARGET) == {}  # no images: entry added, no image: rewritten
    assert not pins(files, TARGET)


def test_without_a_policy_a_setter_entry_is_never_half_edited() -> None:
    plain = replace(TARGET, policy=None)
    text = "resources:\n  - app.yaml\n" + SETTER_ENTRY
    out = edit_text(text, plain, path="kustomization.yaml")
    assert out == text  # no digest beside the setters' old name and tag
    assert not pins({"e/kustomization.yaml": out}, plain)


def test_the_policy_comes_from_the_model_image_config() -> None:
    config = Config.model_validate(
        {
            "project": "p",
            "models": {
                "digits": {
                    "path": "m",
                    "gate": {"accuracy": {"min": 0.5}},
                    "image": {"flux_policy": POLICY},
                }
            },
            "environments": [{"name": "dev", "path": "environments/dev"}],
        }
    )
    assert config.model("digits").image.flux_policy == POLICY
    # where the manifests pin the image is no input of the model: the same content hash
    plain = config.model_copy(
        update={
            "models": {"digits": config.model("digits").model_copy(update={"image": ImageConfig()})}
        }
    )
    assert hashed_config(SimpleNamespace(config=config), "digits") == hashed_config(  # type: ignore[arg-type]
        SimpleNamespace(config=plain), "digits"
    )
    with pytest.raises(ValueError, match="NAMESPACE:NAME"):
        Config.model_validate(
            {
                "project": "p",
                "models": {
                    "digits": {
                        "path": "m",
                        "gate": {"accuracy": {"min": 0.5}},
                        "image": {"flux_policy": "no-colon"},
                    }
                },
                "environments": [{"name": "dev", "path": "environments/dev"}],
            }
        )


# -- Flux's own fixtures ----------------------------------------------------------------


def _flux_setters() -> Path:
    """Flux image-automation-controller's setter fixtures (shared/peer-data/flux-setters)."""
    repo = Path(__file__).resolve().parents[2]
    for candidate in (
        os.environ.get("LEPTONCI_PEER_DATA", ""),
        str(repo.parent / "shared" / "peer-data"),
        str(repo.parents[1] / "shared" / "peer-data"),
    ):
        if candidate and (Path(candidate) / "flux-setters").is_dir():
            return Path(candidate) / "flux-setters" / "internal" / "update" / "testdata"
    require("flux-setters", "Flux's setter fixtures (set LEPTONCI_PEER_DATA)")


def _tree(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): p.read_text()
        for p in sorted(folder.iterdir())
        if p.is_file()  # test.yaml is a dangling symlink: Flux's reader skips it too
    }


# The policy Flux's TestUpdateWithSetters reflects with a digest (Status.LatestRef).
WITH_DIGEST = ImageTarget(
    name="image",
    new_name="image",
    tag="v1.0.0",
    digest="sha256:6745aaad46d795c9836632e1fb62f24b7e7f4c843144da8e47a5465c411a14be",
    policy="automation-ns:policy-with-digest",
)


def test_flux_fixture_lines_of_the_policy_match_flux_and_the_rest_stay() -> None:
    data = _flux_setters()
    original, expected = _tree(data / "setters" / "original"), _tree(data / "setters" / "expected")
    changed = edit_folder(original, WITH_DIGEST)
    assert sorted(changed) == ["kustomization.yml"]  # Kustomization, marked.yaml: other policies
    ours = f'"{WITH_DIGEST.policy}'
    checked = 0
    for got, old, flux in zip(
        changed["kustomization.yml"].splitlines(),
        original["kustomization.yml"].splitlines(),
        expected["kustomization.yml"].splitlines(),
        strict=True,
    ):
        if ours in old:
            assert got == flux  # what Flux writes for this policy, byte for byte
            checked += 1
        else:
            assert got == old  # other policies' setters and unmarked fields: left alone
    assert checked == 2
    assert "unmarked.yaml" not in changed  # "uses the same image. but should be left alone"


def test_flux_fixture_name_and_tag_setters_alone_ask_for_a_digest_setter() -> None:
    # Flux writes only name and tag here (a pin by tag); leptonci asks for :digest instead
    data = _flux_setters()
    target = ImageTarget(
        name="container",
        new_name="index.repo.fake/updated",
        tag="v1.0.1",
        digest=DIGEST,
        policy="automation-ns:policy",
    )
    with pytest.raises(ConfigError, match="pins by tag alone") as err:
        edit_folder(_tree(data / "setters" / "original"), target)
    assert err.value.file == "Kustomization"
