"""The daemonless builder and the OCI layout store: reproducible bytes, layout on disk."""

from __future__ import annotations

import io
import json
import os
import random
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest

from leptonci.adapters.images.daemonless import build_artifact, load_layout_base
from leptonci.adapters.images.layout import Descriptor, OciLayout, sha256_digest
from leptonci.adapters.images.transfer import push_to_layout
from leptonci.core.errors import ConfigError
from leptonci.core.images import OCI_LAYER_TAR, BuildSpec, parse_base

MODEL_FILES = {"saved_model.pb": 40_000, "variables/variables.data-00000-of-00001": 400_000}


def make_export(folder: Path, *, seed: int = 1, mtime: float | None = None) -> Path:
    """A fake TF Serving SavedModel folder (digits/1/) with seeded random bytes."""
    rng = random.Random(seed)
    export = folder / "digits" / "1"
    for rel, size in MODEL_FILES.items():
        path = export / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(rng.randbytes(size))
        if mtime is not None:
            os.utime(path, (mtime, mtime))
    (export / "variables" / "variables.index").write_bytes(b"index")
    return export


def make_spec(export: Path, **changes: object) -> BuildSpec:
    spec = BuildSpec(
        model="digits",
        version=1,
        export_dir=export,
        repository="digits",
        release="digits-0123456789ab",
        verdict="passed",
        content_hash="sha256:" + "0" * 64,
        source_commit="c" * 40,
        source_time="2026-01-02T03:04:05Z",
        source_url="https://github.com/example/models",
        tags=("digits-0123456789ab", "cccccccccccc"),
    )
    return replace(spec, **changes)  # type: ignore[arg-type]


def test_same_model_bytes_give_the_same_digest_anywhere(tmp_path: Path) -> None:
    # different folders, file times and stores: only the bytes matter
    one = make_export(tmp_path / "a", mtime=1_000_000)
    two = make_export(tmp_path / "b", mtime=2_000_000)
    os.chmod(two / "saved_model.pb", 0o600)
    first = build_artifact(make_spec(one), base=None, store=OciLayout(tmp_path / "s1"))
    second = build_artifact(make_spec(two), base=None, store=OciLayout(tmp_path / "s2"))
    hashed_only = build_artifact(make_spec(two), base=None, store=None)
    assert first.digest == second.digest == hashed_only.digest
    assert first.manifest == second.manifest


def test_a_changed_model_changes_the_digest(tmp_path: Path) -> None:
    one = build_artifact(make_spec(make_export(tmp_path / "a", seed=1)), base=None, store=None)
    two = build_artifact(make_spec(make_export(tmp_path / "b", seed=2)), base=None, store=None)
    assert one.digest != two.digest
    assert one.config.digest != two.config.digest


def test_the_layer_is_normalised_tf_serving_layout(tmp_path: Path) -> None:
    store = OciLayout(tmp_path / "store")
    spec = make_spec(make_export(tmp_path / "m"))
    artifact = build_artifact(spec, base=None, store=store)
    layer = artifact.model_layer
    assert layer.media_type == OCI_LAYER_TAR
    data = store.read_bytes(layer.digest)
    assert sha256_digest(data) == layer.digest
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        names = [m.name for m in members]
        assert names[:3] == ["models", "models/digits", "models/digits/1"]
        assert "models/digits/1/saved_model.pb" in names
        assert names[3:] == sorted(names[3:])
        assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {
            (0, 0, "", "", spec.mtime)
        }
        pb = tar.extractfile("models/digits/1/saved_model.pb")
        assert pb is not None
        assert pb.read() == (spec.export_dir / "saved_model.pb").read_bytes()
    # overhead of a model-only image stays small
    model_bytes = sum(MODEL_FILES.values()) + len(b"index")
    assert artifact.size < model_bytes * 1.05


def test_config_and_manifest_carry_labels_env_and_diff_ids(tmp_path: Path) -> None:
    store = OciLayout(tmp_path / "store")
    artifact = build_artifact(make_spec(make_export(tmp_path / "m")), base=None, store=store)
    config = store.read_json(artifact.config.digest)
    manifest = json.loads(artifact.manifest)
    assert config["config"]["Env"] == ["MODEL_NAME=digits", "MODEL_BASE_PATH=/models"]
    assert config["config"]["Labels"]["io.leptonci.release"] == "digits-0123456789ab"
    assert config["created"] == "2026-01-02T03:04:05Z"
    assert config["rootfs"]["diff_ids"] == [artifact.model_layer.digest]
    assert manifest["annotations"]["org.opencontainers.image.revision"] == "c" * 40
    assert manifest["annotations"] == config["config"]["Labels"]


def test_missing_saved_model_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no saved_model\.pb"):
        build_artifact(make_spec(tmp_path / "empty"), base=None, store=None)


def test_push_to_layout_writes_an_oci_layout_and_is_idempotent(tmp_path: Path) -> None:
    store = OciLayout(tmp_path / "store")
    spec = make_spec(make_export(tmp_path / "m"))
    artifact = build_artifact(spec, base=None, store=store)
    dest = OciLayout(tmp_path / "oci" / "digits")
    first = push_to_layout(artifact, store=store, layout=dest, tags=spec.tags)
    again = push_to_layout(artifact, store=store, layout=dest, tags=spec.tags)
    assert first.digest == again.digest == artifact.digest
    assert first.bytes_sent == sum(b.size for b in artifact.blobs)
    assert again.bytes_sent == 0
    assert json.loads((dest.root / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    index = json.loads((dest.root / "index.json").read_text())
    refs = {
        m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
        for m in index["manifests"]
    }
    assert refs == {tag: artifact.digest for tag in spec.tags}
    for blob in (*artifact.blobs,):
        assert sha256_digest(dest.read_bytes(blob.digest)) == blob.digest
    assert dest.read_bytes(artifact.digest) == artifact.manifest


def test_a_layout_push_links_the_store_blobs_instead_of_copying(tmp_path: Path) -> None:
    store = OciLayout(tmp_path / "store")
    spec = make_spec(make_export(tmp_path / "m"))
    artifact = build_artifact(spec, base=None, store=store)
    dest = OciLayout(tmp_path / "oci" / "digits")
    push_to_layout(artifact, store=store, layout=dest, tags=spec.tags)
    layer = artifact.model_layer.digest
    assert dest.blob_path(layer).samefile(store.blob_path(layer))  # no byte copied


def test_retagging_in_a_layout_replaces_the_old_entry(tmp_path: Path) -> None:
    # the layout primitive; a push never moves a tag (tests/adapters/test_images_tags.py)
    store = OciLayout(tmp_path / "store")
    dest = OciLayout(tmp_path / "oci" / "digits")
    one = build_artifact(make_spec(make_export(tmp_path / "a", seed=1)), base=None, store=store)
    two = build_artifact(make_spec(make_export(tmp_path / "b", seed=2)), base=None, store=store)
    for artifact in (one, two):
        digest, _ = dest.put_bytes(artifact.manifest)
        dest.tag(Descriptor(artifact.media_type, digest, len(artifact.manifest)), ("latest",))
    resolved = dest.resolve("latest")
    assert resolved is not None and resolved.digest == two.digest
    assert len(dest.index()["manifests"]) == 1


def test_build_on_a_base_from_an_oci_layout(tmp_path: Path) -> None:
    # the base: a model-only image in a layout, tagged "1"
    store = OciLayout(tmp_path / "store")
    base_spec = make_spec(make_export(tmp_path / "base", seed=9), model="base")
    base_artifact = build_artifact(base_spec, base=None, store=store)
    base_dir = tmp_path / "bases" / "busybox"
    push_to_layout(base_artifact, store=store, layout=OciLayout(base_dir), tags=("1",))

    base = load_layout_base(parse_base(f"oci-layout:{base_dir}:1"), base_dir)
    spec = make_spec(make_export(tmp_path / "m"), base=f"oci-layout:{base_dir}:1")
    fresh = OciLayout(tmp_path / "fresh-store")
    artifact = build_artifact(spec, base=base, store=fresh)
    assert artifact.layers == (*base_artifact.layers, artifact.model_layer)
    config = fresh.read_json(artifact.config.digest)
    assert config["rootfs"]["diff_ids"] == [
        base_artifact.model_layer.digest,
        artifact.model_layer.digest,
    ]
    assert "MODEL_NAME=digits" in config["config"]["Env"]
    assert "MODEL_NAME=base" not in config["config"]["Env"]
    # pushing copies the base's layer out of the base layout
    dest = OciLayout(tmp_path / "oci" / "digits")
    result = push_to_layout(artifact, store=fresh, layout=dest, tags=spec.tags)
    assert dest.has_blob(base_artifact.model_layer.digest)
    assert result.digest == artifact.digest


def test_unknown_layout_tag_is_a_config_error(tmp_path: Path) -> None:
    base_dir = tmp_path / "bases" / "empty"
    other = Descriptor("application/vnd.oci.image.manifest.v1+json", "sha256:" + "f" * 64, 2)
    OciLayout(base_dir).tag(other, ("other",))
    with pytest.raises(ConfigError, match="no image tagged '1'"):
        load_layout_base(parse_base(f"oci-layout:{base_dir}:1"), base_dir)
