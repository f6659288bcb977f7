"""The push at the wire floor, against the real registry (Debian's docker-registry).

One pass (the model read once, the layer sent once), resume after the registry goes
away mid-upload, a stalled registry given up on, blobs in parallel, base layers mounted
across repositories, and re-pushes that read and send nothing. skopeo reads the result
back, so "valid image" means valid to another tool, not just to leptonci.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from leptonci.adapters.images.daemonless import (
    PendingImage,
    build_artifact,
    load_layout_base,
    prepare_image,
)
from leptonci.adapters.images.layercache import RECORD_FILE, LayerRecord
from leptonci.adapters.images.layout import OciLayout, sha256_digest
from leptonci.adapters.images.registry import RegistryClient, RetryPolicy, UploadState
from leptonci.adapters.images.transfer import load_registry_base, push_to_layout, push_to_registry
from leptonci.core.errors import ConfigError, ExitCode, RegistryError
from leptonci.core.images import BuildSpec, parse_base
from tests.adapters.test_images_daemonless import make_export, make_spec
from tests.fixtures import skopeo
from tests.fixtures.file_reads import CountingOpener
from tests.fixtures.registry import RegistryServer

pytestmark = pytest.mark.service
FAST = RetryPolicy(attempts=3, base_delay=0.01)
PATIENT = RetryPolicy(attempts=12, base_delay=0.2, max_delay=1.0)  # outlasts a restart
CHUNK = 64 << 10  # the test model's layer (~450 KB) goes up in 7 chunks


def _model_bytes(spec: BuildSpec) -> int:
    return sum(p.stat().st_size for p in spec.export_dir.rglob("*") if p.is_file())


def _pending(
    tmp_path: Path, *, seed: int = 1, opener: CountingOpener | None = None, **spec: object
) -> PendingImage:
    """A model planned for a push, with its layer record beside the candidate."""
    export = make_export(tmp_path / f"cand-{seed}", seed=seed)
    record = LayerRecord(export.parent.parent / RECORD_FILE, settle_seconds=0)
    kwargs = {"opener": opener} if opener is not None else {}
    return prepare_image(make_spec(export, **spec), base=None, record=record, **kwargs)


def _client(server: RegistryServer, **kwargs: object) -> RegistryClient:
    options: dict[str, object] = {"retry": FAST, "chunk_size": CHUNK, **kwargs}
    return RegistryClient(server.host, plain_http=True, **options)  # type: ignore[arg-type]


class _LeavesAfterFirstChunk(RegistryClient):
    """The real client; the registry goes away right after acknowledging one chunk."""

    def __init__(
        self, server: RegistryServer, then: Callable[[], None] | None = None, **kwargs: object
    ) -> None:
        options: dict[str, object] = {"retry": FAST, "chunk_size": CHUNK, **kwargs}
        super().__init__(server.host, plain_http=True, **options)  # type: ignore[arg-type]
        self.server, self.then, self.left = server, then, False

    def patch_chunk(self, *args: object, **kwargs: object) -> UploadState:  # type: ignore[override]
        state = super().patch_chunk(*args, **kwargs)  # type: ignore[arg-type]
        if not self.left:
            self.left = True
            self.server.stop()
            if self.then is not None:
                self.then()
        return state


def test_one_pass_reads_the_model_once_and_sends_the_layer_once(
    registry: RegistryServer, tmp_path: Path
) -> None:
    opener = CountingOpener()
    pending = _pending(tmp_path, opener=opener)
    assert pending.artifact is None and opener.bytes_read == 0  # planning read nothing
    result = push_to_registry(
        pending, client=_client(registry), repo="ns/digits", tags=pending.spec.tags
    )
    artifact = result.artifact
    assert artifact is not None
    assert opener.bytes_read == _model_bytes(pending.spec)  # every byte read exactly once
    assert result.bytes_sent == pending.layer.size + artifact.config.size
    # the same digest as an image built the other way (reproducible: bytes decide it)
    hashed = build_artifact(pending.spec, base=None, store=None)
    assert result.digest == artifact.digest == hashed.digest
    layer = registry.blob("ns/digits", artifact.model_layer.digest)
    assert sha256_digest(layer) == artifact.model_layer.digest
    # another tool reads it as an image, every blob checked against its digest
    seen = skopeo.inspect(registry.host, "ns/digits", pending.spec.tags[0], tmp_path)
    assert seen["Digest"] == result.digest
    assert seen["Layers"] == [artifact.model_layer.digest]
    assert seen["Labels"]["io.leptonci.release"] == pending.spec.release
    copied = skopeo.copy_to_layout(
        registry.host, "ns/digits", pending.spec.tags[0], tmp_path / "copy", tmp_path
    )
    assert OciLayout(copied).read_bytes(artifact.model_layer.digest) == layer


def test_a_repush_reads_nothing_and_sends_nothing(registry: RegistryServer, tmp_path: Path) -> None:
    first = _pending(tmp_path)
    pushed = push_to_registry(first, client=_client(registry), repo="d", tags=first.spec.tags)
    opener = CountingOpener()
    again = prepare_image(first.spec, base=None, record=first.record, opener=opener)
    assert again.artifact is not None and again.artifact.digest == pushed.digest
    result = push_to_registry(again, client=_client(registry), repo="d", tags=first.spec.tags)
    assert result.bytes_sent == 0
    assert opener.opens == 0  # the digest came from the record: no model file was opened


def test_a_known_layer_missing_from_the_registry_streams_with_its_digest_checked(
    registry: RegistryServer, registry_factory: Callable[..., RegistryServer], tmp_path: Path
) -> None:
    first = _pending(tmp_path)
    push_to_registry(first, client=_client(registry), repo="d", tags=first.spec.tags)
    other = registry_factory()  # a registry that has never seen it
    again = prepare_image(first.spec, base=None, record=first.record)
    assert again.artifact is not None
    result = push_to_registry(again, client=_client(other), repo="d", tags=first.spec.tags)
    assert result.digest == again.artifact.digest
    assert result.bytes_sent == again.artifact.size - len(again.artifact.manifest)


def test_resume_after_a_restart_sends_nothing_twice(
    registry: RegistryServer, tmp_path: Path
) -> None:
    pending = _pending(tmp_path)
    restarts: list[threading.Thread] = []
    client = _LeavesAfterFirstChunk(
        registry, lambda: restarts.append(registry.start_later(0.5)), retry=PATIENT
    )
    result = push_to_registry(pending, client=client, repo="ns/digits", tags=pending.spec.tags)
    assert restarts and not restarts[0].is_alive()  # it went away, and came back mid-push
    artifact = result.artifact
    assert artifact is not None
    # the chunk the registry acknowledged before it went away was not sent again
    assert result.bytes_sent == pending.layer.size + artifact.config.size
    assert registry.manifest("ns/digits", pending.spec.tags[0]).content == artifact.manifest
    layer = registry.blob("ns/digits", artifact.model_layer.digest)
    assert sha256_digest(layer) == artifact.model_layer.digest
    seen = skopeo.inspect(registry.host, "ns/digits", pending.spec.tags[0], tmp_path)
    assert seen["Digest"] == result.digest


def test_a_drop_inside_a_chunk_begins_the_session_again(
    registry: RegistryServer, tmp_path: Path
) -> None:
    opener = CountingOpener()
    export = make_export(tmp_path / "cand")
    (export / "variables" / "extra.data").write_bytes(os.urandom(5 << 20))
    pending = prepare_image(make_spec(export), base=None, opener=opener)
    restarts: list[threading.Thread] = []

    def drop() -> None:
        registry.stop()
        restarts.append(registry.start_later(0.5))

    # 2 MiB chunks go out in 1 MiB pieces: drop once the second chunk's first piece is out
    opener.at(3 << 20, drop)
    client = _client(registry, retry=PATIENT, chunk_size=2 << 20)
    result = push_to_registry(pending, client=client, repo="ns/digits", tags=pending.spec.tags)
    assert restarts and not restarts[0].is_alive()
    assert result.artifact is not None
    assert result.digest == build_artifact(pending.spec, base=None, store=None).digest
    # distribution 2.8 refuses a session whose last chunk broke off partway (its state
    # token no longer matches what it holds): the upload began again, never sending a
    # wrong byte
    assert result.bytes_sent > pending.layer.size + result.artifact.config.size
    layer = registry.blob("ns/digits", result.artifact.model_layer.digest)
    assert sha256_digest(layer) == result.artifact.model_layer.digest


def test_a_registry_gone_for_good_fails_with_exit_3(
    registry: RegistryServer, tmp_path: Path
) -> None:
    pending = _pending(tmp_path)
    client = _LeavesAfterFirstChunk(registry)
    with pytest.raises(RegistryError) as info:
        push_to_registry(pending, client=client, repo="ns/digits", tags=pending.spec.tags)
    assert str(info.value).startswith(
        f"registry {registry.host} failed to upload a blob to ns/digits after 3 tries"
    )
    assert info.value.exit_code == ExitCode.OUTSIDE


def test_a_stalled_registry_is_given_up_on_after_the_stall_timeout(
    registry: RegistryServer, tmp_path: Path
) -> None:
    pending = _pending(tmp_path)
    assert registry.process is not None
    pid = registry.process.pid

    def freeze(total: int) -> tuple[Callable[[int], None], Callable[[], None]]:
        return (lambda amount: os.kill(pid, signal.SIGSTOP)), lambda: None

    client = _client(registry, stall_timeout=1.0, read_timeout=1.0)
    started = time.monotonic()
    try:
        with pytest.raises(RegistryError, match=r"after 3 tries: timed out"):
            push_to_registry(
                pending, client=client, repo="ns/digits", tags=pending.spec.tags, progress=freeze
            )
    finally:
        os.kill(pid, signal.SIGCONT)
    # the connection stays open and silent: only the timeouts end each wait (3 tries of
    # about a second each, plus backoff), not the 30 s defaults
    assert time.monotonic() - started < 8


def test_a_model_changed_while_pushing_is_refused(registry: RegistryServer, tmp_path: Path) -> None:
    opener = CountingOpener()
    pending = _pending(tmp_path, opener=opener)
    index = pending.spec.export_dir / "variables" / "variables.index"
    opener.at(CHUNK, lambda: index.write_bytes(b"changed"))
    with pytest.raises(ConfigError, match="changed while it was being pushed") as info:
        push_to_registry(pending, client=_client(registry), repo="d", tags=pending.spec.tags)
    assert info.value.exit_code == ExitCode.BAD_INPUT
    assert registry.manifest("d", pending.spec.tags[0]).status_code == 404
    # and nothing was recorded for the folder as it was planned
    assert pending.record is not None and pending.record.lookup(pending.layer) is None


class _CountingClient(RegistryClient):
    """The real client; counts blob requests in flight at once (each held 50 ms)."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.in_flight = self.most = 0
        self._lock = threading.Lock()

    def _busy(self, call: Callable[[], object]) -> object:
        with self._lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        try:
            time.sleep(0.05)
            return call()
        finally:
            with self._lock:
                self.in_flight -= 1

    def put_blob(self, *args: object, **kwargs: object) -> None:  # type: ignore[override]
        call = super().put_blob
        self._busy(lambda: call(*args, **kwargs))  # type: ignore[arg-type]

    def patch_chunk(self, *args: object, **kwargs: object) -> UploadState:  # type: ignore[override]
        call = super().patch_chunk
        return self._busy(lambda: call(*args, **kwargs))  # type: ignore[arg-type,return-value]


def _layered_base(tmp_path: Path, layers: int) -> Path:
    """An OCI layout holding an image of `layers` model layers, tagged "1"."""
    store = OciLayout(tmp_path / "base-store")
    folder = tmp_path / "bases" / "stack"
    base = None
    for i in range(layers):
        spec = make_spec(make_export(tmp_path / f"base-{i}", seed=100 + i), model=f"m{i}")
        artifact = build_artifact(spec, base=base, store=store)
        # each stage under a tag of its own (a pushed tag is never moved); the last is "1"
        tags = (f"stage-{i}", *(("1",) if i == layers - 1 else ()))
        push_to_layout(artifact, store=store, layout=OciLayout(folder), tags=tags)
        base = load_layout_base(parse_base(f"oci-layout:{folder}:stage-{i}"), folder)
    return folder


@pytest.mark.parametrize("parallel", [3, 1])
def test_the_blobs_of_an_image_go_up_in_parallel_up_to_the_bound(
    registry: RegistryServer, tmp_path: Path, parallel: int
) -> None:
    folder = _layered_base(tmp_path, 4)
    base = load_layout_base(parse_base(f"oci-layout:{folder}:1"), folder)
    export = make_export(tmp_path / "cand", seed=5)
    spec = make_spec(export, base=f"oci-layout:{folder}:1")
    pending = prepare_image(spec, base=base)
    client = _CountingClient(registry.host, plain_http=True, retry=FAST, chunk_size=1 << 30)
    result = push_to_registry(
        pending,
        store=OciLayout(tmp_path / "store"),
        client=client,
        repo="ns/app",
        tags=spec.tags,
        parallel=parallel,
    )
    assert result.artifact is not None and len(result.artifact.layers) == 5
    assert client.most == parallel  # four base layers and the model layer: bound reached
    seen = skopeo.inspect(registry.host, "ns/app", spec.tags[0], tmp_path)
    assert seen["Layers"] == [layer.digest for layer in result.artifact.layers]


def test_base_layers_the_registry_holds_are_mounted_not_sent(
    registry: RegistryServer, tmp_path: Path
) -> None:
    base_image = _pending(tmp_path, seed=7, model="base")
    client = _client(registry)
    pushed = push_to_registry(base_image, client=client, repo="base/tiny", tags=("1",))
    assert pushed.artifact is not None
    base_layer = pushed.artifact.model_layer
    base = load_registry_base(parse_base(f"{registry.host}/base/tiny:1"), client)
    export = make_export(tmp_path / "app", seed=8)
    spec = make_spec(export, base=f"{registry.host}/base/tiny:1")
    result = push_to_registry(
        prepare_image(spec, base=base),
        store=OciLayout(tmp_path / "store"),  # empty: the base layer is not local
        client=client,
        repo="team/app",
        tags=spec.tags,
    )
    artifact = result.artifact
    assert artifact is not None and artifact.layers[0] == base_layer
    # only the model layer and the config went up: the base layer was mounted
    assert result.bytes_sent == artifact.model_layer.size + artifact.config.size
    assert not (tmp_path / "store" / "blobs").exists()  # and never fetched either
    assert registry.blob("team/app", base_layer.digest)
    seen = skopeo.inspect(registry.host, "team/app", spec.tags[0], tmp_path)
    assert seen["Layers"] == [base_layer.digest, artifact.model_layer.digest]


def test_mount_blob_answers_whether_it_mounted(registry: RegistryServer, tmp_path: Path) -> None:
    pending = _pending(tmp_path)
    client = _client(registry)
    result = push_to_registry(pending, client=client, repo="from/here", tags=("1",))
    assert result.artifact is not None
    layer = result.artifact.model_layer.digest
    assert client.mount_blob("to/there", layer, "from/here") is True
    assert client.has_blob("to/there", layer)
    # a blob the source repository does not hold: the registry opens an upload instead
    assert client.mount_blob("to/there", "sha256:" + "1" * 64, "from/here") is False
