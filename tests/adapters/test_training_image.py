"""The training image: the model folder and job.json appended onto a base, reproducibly."""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

from leptonci.adapters.images.daemonless import BaseImage
from leptonci.adapters.images.layout import Descriptor, OciLayout
from leptonci.adapters.images.training_image import build_training_image
from leptonci.core.images import BaseRef

BASE_LAYER = Descriptor("application/vnd.oci.image.layer.v1.tar+gzip", "sha256:" + "b" * 64, 123)
BASE = BaseImage(
    BaseRef("registry", host="r.example", repository="train", reference="1"),
    {
        "architecture": "arm64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/bin", "PYTHONUNBUFFERED=0"], "Labels": {"base": "yes"}},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + "d" * 64]},
        "history": [{"created_by": "base"}],
    },
    (BASE_LAYER,),
    lambda blob, store: None,
)


def model_folder(root: Path) -> list[tuple[str, Path]]:
    (root / "helpers").mkdir(parents=True)
    (root / "train.py").write_text("def load_data(params): ...\n")
    (root / "helpers" / "prep.sh").write_text("#!/bin/sh\n")
    (root / "helpers" / "prep.sh").chmod(0o755)
    return [("helpers/prep.sh", root / "helpers" / "prep.sh"), ("train.py", root / "train.py")]


def test_the_same_inputs_give_the_same_digest_anywhere(tmp_path: Path) -> None:
    first = build_training_image(
        base=BASE, files=model_folder(tmp_path / "a"), job=b"{}", labels={"x": "1"}, store=None
    )
    again = build_training_image(
        base=BASE, files=model_folder(tmp_path / "b"), job=b"{}", labels={"x": "1"}, store=None
    )
    assert first.digest == again.digest  # other folder, other mtimes: same image
    other = build_training_image(
        base=BASE, files=model_folder(tmp_path / "c"), job=b'{"a":1}', labels={"x": "1"}, store=None
    )
    assert other.digest != first.digest


def test_the_layer_holds_job_json_and_the_model_folder_on_the_base(tmp_path: Path) -> None:
    store = OciLayout(tmp_path / "store")
    artifact = build_training_image(
        base=BASE,
        files=model_folder(tmp_path / "m"),
        job=b'{"schema": "x"}\n',
        labels={"io.leptonci.model": "digits"},
        store=store,
    )
    assert artifact.layers[0] == BASE_LAYER  # reused untouched
    with tarfile.open(fileobj=io.BytesIO(store.read_bytes(artifact.model_layer.digest))) as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert list(members) == [
            "leptonci",
            "leptonci/job.json",
            "leptonci/model",
            "leptonci/model/helpers",
            "leptonci/model/helpers/prep.sh",
            "leptonci/model/train.py",
        ]
        assert tar.extractfile(members["leptonci/job.json"]).read() == b'{"schema": "x"}\n'  # type: ignore[union-attr]
        assert members["leptonci/model/helpers/prep.sh"].mode == 0o755
        assert members["leptonci/model/train.py"].mode == 0o644
        assert {m.mtime for m in members.values()} == {0}
    config = json.loads(store.read_bytes(artifact.config.digest))
    assert config["architecture"] == "arm64"
    assert config["config"]["Env"] == ["PATH=/usr/bin", "PYTHONUNBUFFERED=1"]
    assert config["config"]["Labels"] == {"base": "yes", "io.leptonci.model": "digits"}
    assert config["rootfs"]["diff_ids"] == ["sha256:" + "d" * 64, artifact.model_layer.digest]
    manifest = json.loads(artifact.manifest)
    assert [layer["digest"] for layer in manifest["layers"]] == [
        BASE_LAYER.digest,
        artifact.model_layer.digest,
    ]
    assert store.has_blob(artifact.digest)
