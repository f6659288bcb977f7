"""Manifest edits: tables for the rules, the error cases and the folder-level API."""

from __future__ import annotations

import dataclasses

import pytest

from leptonci.core.errors import ConfigError
from leptonci.manifests import ImageTarget, current_image, edit_folder, edit_text, split_ref
from leptonci.manifests.splice import render

DIGEST = "sha256:" + "ab" * 32
OLD_DIGEST = "sha256:" + "cd" * 32
TARGET = ImageTarget(
    name="leptonci/digits", new_name="127.0.0.1:5000/ns/digits", tag="r-1", digest=DIGEST
)
PINNED = f"127.0.0.1:5000/ns/digits:r-1@{DIGEST}"
OVERLAY = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../base
images:
  - name: leptonci/digits
    newTag: unreleased
"""
DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: digits
spec:
  template:
    spec:
      containers:
        - name: serving
          image: leptonci/digits:unreleased
"""


def test_no_match_returns_the_same_object() -> None:
    text = "apiVersion: v1\nkind: Service\nmetadata:\n  name: digits\n"
    assert edit_text(text, TARGET) is text
    mentions = "apiVersion: v1\nkind: ConfigMap\ndata:\n  image: leptonci/digits:old\n"
    assert edit_text(mentions, TARGET) is mentions


def test_already_pinned_returns_the_same_object() -> None:
    once = edit_text(DEPLOYMENT, TARGET)
    assert once != DEPLOYMENT
    assert edit_text(once, TARGET) is once


def test_a_second_pin_replaces_the_first() -> None:
    first = ImageTarget(
        name="leptonci/digits", new_name="127.0.0.1:5000/ns/digits", tag="r-0", digest=OLD_DIGEST
    )
    text = edit_text(edit_text(DEPLOYMENT, first), TARGET)
    assert text == DEPLOYMENT.replace("leptonci/digits:unreleased", PINNED)


@pytest.mark.parametrize(
    ("text", "line"),
    [
        ("kind: Deployment\nspec: [leptonci/digits\n", 3),
        ("kind: Kustomization\nimages:\n  - name: x\n bad: leptonci/digits\n", 4),
    ],
)
def test_bad_yaml_is_a_config_error_with_file_and_line(text: str, line: int) -> None:
    with pytest.raises(ConfigError) as info:
        edit_text(text, TARGET, path="environments/dev/app.yaml")
    assert info.value.file == "environments/dev/app.yaml"
    assert info.value.line == line
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("digest", "sha256:abc"),
        ("digest", "md5:" + "a" * 32),
        ("digest", "sha256:" + "A" * 64),
        ("name", "Leptonci/Digits"),
        ("name", ""),
        ("new_name", "http://registry/x"),
        ("tag", "-bad"),
        ("tag", "a b"),
        ("tag", "r-é"),
        ("new_name", "127.0.0.1:5000/ns/digits:r-1"),
        ("policy", "no-colon"),
    ],
)
def test_bad_target_is_a_config_error(field: str, value: str) -> None:
    fields = {
        "name": "leptonci/digits",
        "new_name": "r.example.com:5000/a/b",
        "tag": "t",
        "digest": DIGEST,
        "policy": None,
        field: value,
    }
    with pytest.raises(ConfigError) as info:
        ImageTarget(**fields)  # type: ignore[arg-type]
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("ref", "parts"),
    [
        ("leptonci/digits", ("leptonci/digits", None, None)),
        ("leptonci/digits:1.0", ("leptonci/digits", "1.0", None)),
        ("localhost:5000/digits", ("localhost:5000/digits", None, None)),
        (f"localhost:5000/digits:t@{DIGEST}", ("localhost:5000/digits", "t", DIGEST)),
        (f"digits@{DIGEST}", ("digits", None, DIGEST)),
    ],
)
def test_split_ref(ref: str, parts: tuple[str, str | None, str | None]) -> None:
    assert split_ref(ref) == parts


@pytest.mark.parametrize(
    ("value", "style", "out"),
    [
        ("r-1", "", "r-1"),
        ("1.0", "", '"1.0"'),
        ("123", "", '"123"'),
        ("0x1F", "", '"0x1F"'),
        ("yes", "", '"yes"'),
        ("it's", "'", "'it''s'"),
        ("a", '"', '"a"'),
        (PINNED, "", PINNED),
    ],
)
def test_render_keeps_strings_strings(value: str, style: str, out: str) -> None:
    assert render(value, style) == out


def test_numeric_looking_tag_is_quoted_in_a_plain_field() -> None:
    target = ImageTarget(
        name="leptonci/digits", new_name="leptonci/digits", tag="20240601", digest=DIGEST
    )
    out = edit_text(OVERLAY, target, path="kustomization.yaml")
    assert '    newTag: "20240601"\n' in out
    assert "newName" not in out  # same repository: kustomize needs no newName


def test_block_scalar_image_is_refused() -> None:
    text = DEPLOYMENT.replace(
        "image: leptonci/digits:unreleased", "image: >-\n            leptonci/digits:old"
    )
    with pytest.raises(ConfigError, match="block scalar"):
        edit_text(text, TARGET)


def test_tag_setter_without_a_tag_is_refused() -> None:
    text = 'tag: old # {"$imagepolicy": "flux-system:digits:tag"}\nimage: leptonci/digits\n'
    target = ImageTarget(
        name="leptonci/digits",
        new_name="r.io/digits",
        tag=None,
        digest=DIGEST,
        policy="flux-system:digits",
    )
    with pytest.raises(ConfigError, match="wants a tag"):
        edit_text(text, target)


def test_setters_are_ignored_without_a_policy() -> None:
    text = 'image:\n  tag: old # {"$imagepolicy": "flux-system:digits:tag"}\n'
    assert edit_text(text, TARGET) is text


def test_flux_kustomization_resource_is_not_a_kustomize_file() -> None:
    text = (
        "apiVersion: kustomize.toolkit.fluxcd.io/v1\nkind: Kustomization\nmetadata:\n"
        "  name: apps\nspec:\n  path: ./environments/dev\n"
    )
    assert edit_text(text, TARGET, path="clusters/dev/kustomization.yaml") is text


def test_edit_folder_returns_only_changed_files_and_adds_only_to_the_top() -> None:
    files = {
        "environments/dev/kustomization.yaml": "resources:\n  - app.yaml\n  - extra\n",
        "environments/dev/app.yaml": DEPLOYMENT,
        "environments/dev/service.yaml": "apiVersion: v1\nkind: Service\n",
        "environments/dev/extra/kustomization.yaml": "resources:\n  - cm.yaml\n",
        "environments/dev/README.md": "leptonci/digits\n",
    }
    changed = edit_folder(files, TARGET)
    assert sorted(changed) == ["environments/dev/app.yaml", "environments/dev/kustomization.yaml"]
    assert changed["environments/dev/kustomization.yaml"] == (
        "resources:\n  - app.yaml\n  - extra\nimages:\n  - name: leptonci/digits\n"
        f"    newName: 127.0.0.1:5000/ns/digits\n    newTag: r-1\n    digest: {DIGEST}\n"
    )
    assert edit_folder({**files, **changed}, TARGET) == {}


def test_current_image_reads_the_kustomize_entry_first() -> None:
    files = {"env/kustomization.yaml": OVERLAY, "env/app.yaml": DEPLOYMENT}
    assert current_image(files, "leptonci/digits") == "leptonci/digits:unreleased"
    pinned = {**files, **edit_folder(files, TARGET)}
    assert current_image(pinned, "leptonci/digits") == PINNED


def test_current_image_falls_back_to_workloads() -> None:
    files = {"env/app.yaml": edit_text(DEPLOYMENT, TARGET)}
    assert current_image(files, "leptonci/digits") is None
    assert current_image(files, "leptonci/digits", new_name=TARGET.new_name) == PINNED
    assert current_image({"env/app.yaml": DEPLOYMENT}, "leptonci/digits") == (
        "leptonci/digits:unreleased"
    )


def test_untagged_pin_drops_a_flow_newtag() -> None:
    text = "kind: Kustomization\nimages: [{name: leptonci/digits, newTag: old}]\n"
    target = ImageTarget(
        name="leptonci/digits", new_name="leptonci/digits", tag=None, digest=DIGEST
    )
    assert edit_text(text, target) == (
        f"kind: Kustomization\nimages: [{{name: leptonci/digits, digest: {DIGEST}}}]\n"
    )


def test_empty_flow_images_list_gets_the_entry() -> None:
    text = "kind: Kustomization\nimages: []\n"
    out = edit_text(text, TARGET)
    assert out == (
        "kind: Kustomization\nimages: [{name: leptonci/digits, newName: 127.0.0.1:5000/ns/digits,"
        f" newTag: r-1, digest: {DIGEST}}}]\n"
    )


VOLUME_PATCH = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: digits
spec:
  template:
    spec:
      volumes:
        - name: model
          image:
            reference: leptonci/digits:unreleased
"""


def test_an_image_volume_patch_is_pinned_and_no_images_entry_is_added() -> None:
    # kustomize's images: does not reach volume references: an entry would pin nothing
    files = {
        "env/kustomization.yaml": "resources:\n  - ../base\npatches:\n  - path: model.yaml\n",
        "env/model.yaml": VOLUME_PATCH,
    }
    changed = edit_folder(files, TARGET)
    assert changed == {"env/model.yaml": VOLUME_PATCH.replace("leptonci/digits:unreleased", PINNED)}
    assert current_image(files, "leptonci/digits") == "leptonci/digits:unreleased"
    pinned = current_image({**files, **changed}, "leptonci/digits", new_name=TARGET.new_name)
    assert pinned == PINNED
    assert edit_folder({**files, **changed}, TARGET) == {}


def test_a_container_image_beside_an_image_volume_still_gets_its_entry() -> None:
    files = {"env/kustomization.yaml": "resources:\n  - app.yaml\n", "env/app.yaml": DEPLOYMENT}
    assert "env/kustomization.yaml" in edit_folder(files, TARGET)


def test_a_direct_field_pinned_under_an_earlier_registry_is_still_found() -> None:
    earlier = VOLUME_PATCH.replace(
        "leptonci/digits:unreleased", f"old.example/ml/digits@{OLD_DIGEST}"
    )
    files = {
        "env/kustomization.yaml": "patches:\n  - path: model.yaml\n",
        "env/model.yaml": earlier,
    }
    moved = dataclasses.replace(TARGET, previous=("old.example/ml/digits",))
    assert edit_folder(files, moved) == {
        "env/model.yaml": VOLUME_PATCH.replace("leptonci/digits:unreleased", PINNED)
    }
    # without the ledger's word the field is someone else's image: left alone
    assert "env/model.yaml" not in edit_folder(files, TARGET)
