"""The candidate store: candidates as OCI artifacts on the real registry and in a layout.

Publish, look up by tag, fetch (every blob verified), and refuse what is damaged or
foreign: a corrupted blob in the registry's storage, a manifest of another artifact type,
metrics of another candidate under the tag.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from leptonci.adapters.images.candidates import (
    ARTIFACT_TYPE,
    METRICS_TYPE,
    MODEL_TYPE,
    CandidateStore,
    LayoutCandidates,
    RegistryCandidates,
    annotations_for,
)
from leptonci.adapters.images.layout import OciLayout
from leptonci.adapters.images.registry import RegistryClient, RetryPolicy
from leptonci.core.candidate import Candidate
from leptonci.core.errors import RegistryError
from leptonci.core.images import OCI_MANIFEST
from tests.fixtures.registry import RegistryServer

KEY = "sha256:" + "c" * 64
TAG = "digits-" + "c" * 64
ANNOTATIONS = annotations_for(
    model="digits", content_hash=KEY, trained_at="2026-01-02T03:04:05Z", trained_by="alice"
)


def make_candidate(root: Path, *, key: str = KEY) -> Path:
    export = root / "digits" / "1"
    (export / "variables").mkdir(parents=True)
    (export / "saved_model.pb").write_bytes(b"\x08\x01" * 300)
    (export / "variables" / "variables.data-00000-of-00001").write_bytes(bytes(range(256)) * 8)
    (export / "variables" / "variables.index").write_bytes(b"index")
    (export / "fingerprint.pb").write_bytes(b"fp")
    (export / "fingerprint.pb").chmod(0o755)
    Candidate(
        model="digits",
        version=1,
        root=root,
        content_hash=key,
        metrics={"accuracy": 0.97, "loss": 0.1},
        eval_fingerprint="sha256:" + "e" * 64,
        eval_count=360,
    ).write()
    return root


def files_of(root: Path) -> dict[str, tuple[bytes, int]]:
    return {
        p.relative_to(root).as_posix(): (p.read_bytes(), p.stat().st_mode & 0o777)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def registry_store(server: RegistryServer) -> RegistryCandidates:
    client = RegistryClient(
        server.host, plain_http=True, retry=RetryPolicy(attempts=2, base_delay=0.01)
    )
    return RegistryCandidates(client, "ml/leptonci-candidates")


@pytest.fixture(params=["registry", "layout"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> CandidateStore:
    if request.param == "layout":
        return LayoutCandidates(OciLayout(tmp_path / "oci" / "leptonci-candidates"))
    server: RegistryServer = request.getfixturevalue("registry")
    return registry_store(server)


pytestmark = pytest.mark.service


def test_a_published_candidate_comes_back_byte_for_byte(
    store: CandidateStore, tmp_path: Path
) -> None:
    source = make_candidate(tmp_path / "source")
    assert store.lookup(TAG) is None
    digest = store.publish(source, tag=TAG, annotations=ANNOTATIONS)
    stored = store.lookup(TAG)
    assert stored is not None and stored.digest == digest
    assert (stored.trained_at, stored.trained_by) == ("2026-01-02T03:04:05Z", "alice")
    assert stored.metrics.media_type == METRICS_TYPE and stored.model.media_type == MODEL_TYPE
    dest = tmp_path / "fetched"
    dest.mkdir()
    store.fetch(stored, dest, model="digits", content_hash=KEY)
    assert files_of(dest) == files_of(source)  # bytes and the executable bit
    # publishing the same candidate again gives the same manifest: the tar is reproducible
    assert store.publish(source, tag=TAG, annotations=ANNOTATIONS) == digest


def test_the_artifact_has_leptoncis_own_media_types(
    registry: RegistryServer, tmp_path: Path
) -> None:
    store = registry_store(registry)
    digest = store.publish(make_candidate(tmp_path / "c"), tag=TAG, annotations=ANNOTATIONS)
    response = registry.manifest("ml/leptonci-candidates", TAG)
    assert response.headers["Docker-Content-Digest"] == digest
    manifest = response.json()
    assert manifest["mediaType"] == OCI_MANIFEST
    assert manifest["artifactType"] == ARTIFACT_TYPE
    assert manifest["config"]["mediaType"] == METRICS_TYPE
    assert [layer["mediaType"] for layer in manifest["layers"]] == [MODEL_TYPE]
    assert manifest["annotations"]["io.leptonci.model-hash"] == KEY
    metrics = json.loads(registry.blob("ml/leptonci-candidates", manifest["config"]["digest"]))
    assert metrics["content_hash"] == KEY and metrics["metrics"]["accuracy"] == 0.97
    # skopeo, an independent OCI client, reads the same manifest back
    out = subprocess.run(
        [
            "skopeo",
            "inspect",
            "--raw",
            "--tls-verify=false",
            f"docker://{registry.host}/ml/leptonci-candidates:{TAG}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == manifest


def corrupt(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size: only a digest check can tell
    path.write_bytes(bytes(data))


def registry_blob_file(server: RegistryServer, digest: str) -> Path:
    hexdigest = digest.split(":", 1)[1]
    return (
        server.folder
        / "storage/docker/registry/v2/blobs/sha256"
        / hexdigest[:2]
        / hexdigest
        / "data"
    )


def test_a_corrupted_model_blob_in_the_registry_is_refused(
    registry: RegistryServer, tmp_path: Path
) -> None:
    store = registry_store(registry)
    store.publish(make_candidate(tmp_path / "c"), tag=TAG, annotations=ANNOTATIONS)
    stored = store.lookup(TAG)
    assert stored is not None
    corrupt(registry_blob_file(registry, stored.model.digest))
    dest = tmp_path / "fetched"
    dest.mkdir()
    with pytest.raises(RegistryError) as info:
        store.fetch(stored, dest, model="digits", content_hash=KEY)
    assert f"model blob {stored.model.digest[:19]} refused" in str(info.value)
    assert list(dest.iterdir()) == []  # nothing of it was kept


def test_a_corrupted_blob_in_a_layout_is_refused_and_replaced_on_publish(tmp_path: Path) -> None:
    layout = OciLayout(tmp_path / "oci" / "leptonci-candidates")
    store = LayoutCandidates(layout)
    source = make_candidate(tmp_path / "c")
    store.publish(source, tag=TAG, annotations=ANNOTATIONS)
    stored = store.lookup(TAG)
    assert stored is not None
    corrupt(layout.blob_path(stored.model.digest))
    dest = tmp_path / "fetched"
    dest.mkdir()
    with pytest.raises(RegistryError, match="refused: its bytes hash to"):
        store.fetch(stored, dest, model="digits", content_hash=KEY)
    store.publish(source, tag=TAG, annotations=ANNOTATIONS)  # a retrain publishes again
    store.fetch(stored, dest, model="digits", content_hash=KEY)
    assert files_of(dest) == files_of(source)


def test_a_tag_holding_another_candidate_is_refused(store: CandidateStore, tmp_path: Path) -> None:
    other = make_candidate(tmp_path / "other", key="sha256:" + "d" * 64)
    store.publish(other, tag=TAG, annotations=ANNOTATIONS)  # wrongly tagged
    stored = store.lookup(TAG)
    assert stored is not None
    dest = tmp_path / "fetched"
    dest.mkdir()
    with pytest.raises(RegistryError, match="not digits sha256:c"):
        store.fetch(stored, dest, model="digits", content_hash=KEY)


def test_an_image_under_a_candidate_tag_is_not_taken_for_a_candidate(
    registry: RegistryServer, tmp_path: Path
) -> None:
    from leptonci.adapters.images.transfer import push_to_registry
    from tests.adapters.test_images_registry import _built, _client

    artifact, layout, _ = _built(tmp_path)
    push_to_registry(
        artifact, store=layout, client=_client(registry), repo="ml/leptonci-candidates", tags=(TAG,)
    )
    with pytest.raises(RegistryError, match="is not a leptonci candidate"):
        registry_store(registry).lookup(TAG)
