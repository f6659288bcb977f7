"""The images the serving shapes run, on real parts.

- ``bake``: a serving base made here (busybox-static, ``docker import``, with an
  entrypoint, env, a port and a user) is pushed to the test registry and pinned by
  digest in ``serving.base``; the baked image, pulled back by the real Docker engine and
  run with ``--network none``, lists the model through the base's entrypoint. Its base
  layer is mounted across repositories, never sent; a second push sends nothing.
- the model-only image (``volume``, ``kserve``) read back by skopeo, its SavedModel
  loaded with TensorFlow and giving the outputs the model gave before the build.
"""

from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path
from typing import Any

import pytest

from leptonci.core.candidate import Candidate
from leptonci.core.config import load_config
from leptonci.core.errors import ConfigError
from leptonci.pipeline.build import build_image, push_image
from tests.fixtures import skopeo
from tests.fixtures.docker_engine import _busybox_rootfs
from tests.fixtures.registry import RegistryServer
from tests.flows.test_build import CONTENT_HASH, RELEASE, SOURCE, make_candidate, make_ctx

pytestmark = [pytest.mark.service, pytest.mark.slow]
BASE_CHANGES = [
    'ENTRYPOINT ["/bin/ls", "-l"]',
    "ENV SERVER_FLAGS=--rest_api_port=8501",
    "ENV MODEL_NAME=from-the-base",
    "EXPOSE 8501",
    "USER 65534",
]
CONFIG = """\
project: demo
registry: {registry}
models:
  digits:
    path: model_repo/digits
    image:
      repository: digits
    serving:
{serving}    gate:
      accuracy:
        min: 0.9
environments:
  - name: dev
    path: environments/dev
    policy: auto
"""


def make_repo(root: Path, *, registry: str, serving: str) -> Path:
    (root / "model_repo" / "digits").mkdir(parents=True)
    (root / "environments" / "dev").mkdir(parents=True)
    (root / "leptonci.yaml").write_text(CONFIG.format(registry=registry, serving=serving))
    return root


@pytest.fixture
def serving_base(docker_client: Any, registry: RegistryServer) -> str:
    """A serving base in the registry, as REF@DIGEST: busybox with an entrypoint & co."""
    name = f"{registry.host}/base/server"
    docker_client.api.import_image_from_data(
        _busybox_rootfs(), repository=name, tag="1", changes=BASE_CHANGES
    )
    for event in docker_client.images.push(name, tag="1", stream=True, decode=True):
        assert "error" not in event, event
    digest = registry.manifest("base/server", "1").headers["Docker-Content-Digest"]
    return f"{name}@{digest}"


def test_a_baked_image_runs_the_base_entrypoint_on_the_model(
    docker_client: Any, serving_base: str, registry: RegistryServer, tmp_path: Path
) -> None:
    serving = f"      shape: bake\n      base: {serving_base}\n"
    root = make_repo(tmp_path / "repo", registry=f"{registry.host}/team", serving=serving)
    candidate = make_candidate(tmp_path / "cand", seed=11)
    build = build_image(
        make_ctx(root), candidate=candidate, release=RELEASE, verdict="passed", source=SOURCE
    )
    pushed = push_image(make_ctx(root), build)
    base_manifest = json.loads(registry.manifest("base/server", serving_base.split("@")[1]).text)
    base_layers = [layer["digest"] for layer in base_manifest["layers"]]
    manifest = json.loads(registry.manifest("team/digits", pushed.digest).text)
    layers = [layer["digest"] for layer in manifest["layers"]]
    assert layers[:-1] == base_layers  # the base's layers, untouched, then the model's
    # the base layer was mounted from base/server, not sent: only model layer + config
    model_layer, config_size = manifest["layers"][-1], manifest["config"]["size"]
    assert pushed.bytes_sent == model_layer["size"] + config_size
    assert all(registry.blob("team/digits", digest) for digest in base_layers)

    # pulled back by digest by the engine, run with no network, the base's entrypoint
    reference = f"{registry.host}/team/digits@{pushed.digest}"
    out = docker_client.containers.run(
        reference, ["/models/digits/1/saved_model.pb"], remove=True, network_mode="none"
    )
    assert "/models/digits/1/saved_model.pb" in bytes(out).decode()
    config = docker_client.images.get(reference).attrs["Config"]
    assert config["Entrypoint"] == ["/bin/ls", "-l"]
    assert config["User"] == "65534"
    assert "8501/tcp" in config["ExposedPorts"]
    assert "SERVER_FLAGS=--rest_api_port=8501" in config["Env"]
    assert "MODEL_NAME=digits" in config["Env"] and "MODEL_BASE_PATH=/models" in config["Env"]
    assert "MODEL_NAME=from-the-base" not in config["Env"]

    # same base digest + same model, built elsewhere: the same digest, and nothing sent
    other = make_repo(tmp_path / "other", registry=f"{registry.host}/team", serving=serving)
    again = build_image(
        make_ctx(other), candidate=candidate, release=RELEASE, verdict="passed", source=SOURCE
    )
    assert again.digest == pushed.digest
    assert push_image(make_ctx(other), again).bytes_sent == 0


def test_bake_refuses_a_base_pinned_by_tag_alone(tmp_path: Path) -> None:
    serving = "      shape: bake\n      base: registry.example/base/server:1\n"
    root = make_repo(tmp_path / "repo", registry="oci-layout:.leptonci/oci", serving=serving)
    with pytest.raises(ConfigError, match="not pinned by digest") as info:
        load_config(root)
    assert info.value.line == 10 and info.value.key == "models.digits.serving.base"


# -- the model-only image, read back by skopeo and loaded by TensorFlow -------------


def tiny_saved_model(folder: Path) -> Candidate:
    """A real SavedModel (a fixed affine map with a serving_default signature)."""
    import tensorflow as tf

    class Affine(tf.Module):
        def __init__(self) -> None:
            self.w = tf.Variable([[1.0, -2.0], [0.5, 3.0]])

        @tf.function(input_signature=[tf.TensorSpec([None, 2], tf.float32, name="x")])
        def serve(self, x: Any) -> dict[str, Any]:
            return {"y": tf.matmul(x, self.w) + 0.25}

    module = Affine()
    export = folder / "digits" / "1"
    tf.saved_model.save(module, str(export), signatures={"serving_default": module.serve})
    return Candidate(
        model="digits",
        version=1,
        root=folder,
        content_hash=CONTENT_HASH,
        metrics={"accuracy": 0.95},
        eval_fingerprint="sha256:" + "e" * 64,
        eval_count=2,
    )


def test_the_model_only_image_holds_a_loadable_saved_model(
    registry: RegistryServer, tmp_path: Path
) -> None:
    import numpy as np
    import tensorflow as tf

    root = make_repo(
        tmp_path / "repo", registry=f"{registry.host}/ml", serving="      shape: volume\n"
    )
    candidate = tiny_saved_model(tmp_path / "cand")
    sample = np.array([[1.0, 2.0], [-3.0, 0.5]], dtype="float32")
    before = tf.saved_model.load(str(candidate.export_dir)).signatures["serving_default"]
    expected = before(x=tf.constant(sample))["y"].numpy()

    build = build_image(
        make_ctx(root), candidate=candidate, release=RELEASE, verdict="passed", source=SOURCE
    )
    pushed = push_image(make_ctx(root), build)
    layout = skopeo.copy_to_layout(registry.host, "ml/digits", RELEASE, tmp_path / "oci", tmp_path)
    index = json.loads((layout / "index.json").read_text())
    [entry] = index["manifests"]
    assert entry["digest"] == pushed.digest  # skopeo kept the digest leptonci reported
    manifest = json.loads(_blob(layout, entry["digest"]))
    [layer] = manifest["layers"]  # model-only: FROM scratch, one layer
    unpacked = tmp_path / "unpacked"
    with tarfile.open(fileobj=io.BytesIO(_blob(layout, layer["digest"]))) as tar:
        tar.extractall(unpacked, filter="data")
    loaded = tf.saved_model.load(str(unpacked / "models" / "digits" / "1"))
    serve = loaded.signatures["serving_default"]
    assert list(serve.structured_input_signature[1]) == ["x"]
    np.testing.assert_allclose(serve(x=tf.constant(sample))["y"].numpy(), expected, atol=1e-6)


def _blob(layout: Path, digest: str) -> bytes:
    algorithm, hexdigest = digest.split(":")
    return (layout / "blobs" / algorithm / hexdigest).read_bytes()
