"""Pushing to the real registry (Debian's docker-registry), with and without auth."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from leptonci.adapters.images.credentials import Credentials, registry_credentials
from leptonci.adapters.images.daemonless import ImageArtifact, build_artifact
from leptonci.adapters.images.layout import OciLayout, sha256_digest
from leptonci.adapters.images.registry import RegistryClient, RetryPolicy
from leptonci.adapters.images.transfer import load_registry_base, push_to_registry
from leptonci.core.errors import ExitCode, RegistryAuthError, RegistryError
from leptonci.core.images import parse_base
from leptonci.core.redact import redact
from tests.adapters.test_images_daemonless import make_export, make_spec
from tests.fixtures.registry import RegistryServer

pytestmark = pytest.mark.service
FAST = RetryPolicy(attempts=3, base_delay=0.01)


def _built(tmp_path: Path, *, seed: int = 1) -> tuple[ImageArtifact, OciLayout, tuple[str, ...]]:
    store = OciLayout(tmp_path / "store")
    spec = make_spec(make_export(tmp_path / f"model-{seed}", seed=seed))
    return build_artifact(spec, base=None, store=store), store, spec.tags


def _client(server: RegistryServer, creds: Credentials | None = None) -> RegistryClient:
    return RegistryClient(server.host, plain_http=True, credentials=creds, retry=FAST)


def test_pushed_manifest_and_layers_read_back_identical(
    registry: RegistryServer, tmp_path: Path
) -> None:
    artifact, store, tags = _built(tmp_path)
    client = _client(registry)
    result = push_to_registry(artifact, store=store, client=client, repo="ns/digits", tags=tags)
    assert result.digest == artifact.digest
    assert result.bytes_sent == sum(b.size for b in artifact.blobs)
    for tag in tags:
        response = registry.manifest("ns/digits", tag)
        assert response.headers["Docker-Content-Digest"] == artifact.digest
        assert response.content == artifact.manifest
    manifest = json.loads(artifact.manifest)
    for blob in [manifest["config"], *manifest["layers"]]:
        data = registry.blob("ns/digits", blob["digest"])
        assert data == store.read_bytes(blob["digest"])
        assert sha256_digest(data) == blob["digest"]


def test_repush_of_an_unchanged_image_sends_no_bytes(
    registry: RegistryServer, tmp_path: Path
) -> None:
    artifact, store, tags = _built(tmp_path)
    push_to_registry(artifact, store=store, client=_client(registry), repo="digits", tags=tags)
    again = push_to_registry(
        artifact, store=store, client=_client(registry), repo="digits", tags=tags
    )
    assert again.bytes_sent == 0
    assert again.digest == artifact.digest


def test_progress_sees_every_byte(registry: RegistryServer, tmp_path: Path) -> None:
    artifact, store, tags = _built(tmp_path)
    seen: list[int] = []
    totals: list[int] = []

    def progress(total: int) -> tuple[Callable[[int], None], Callable[[], None]]:
        totals.append(total)
        return seen.append, lambda: None

    push_to_registry(
        artifact, store=store, client=_client(registry), repo="d", tags=tags, progress=progress
    )
    assert totals == [sum(b.size for b in artifact.blobs)] == [sum(seen)]


def test_push_with_basic_auth(registry_auth: RegistryServer, tmp_path: Path) -> None:
    artifact, store, tags = _built(tmp_path)
    creds = Credentials(registry_auth.username, registry_auth.password)
    client = _client(registry_auth, creds)
    result = push_to_registry(artifact, store=store, client=client, repo="ns/digits", tags=tags)
    assert result.digest == artifact.digest
    # every blob went up once: basic auth is sent up front, not after a 401
    assert result.bytes_sent == sum(b.size for b in artifact.blobs)
    assert registry_auth.manifest("ns/digits", tags[0]).content == artifact.manifest


def test_wrong_credentials_are_refused_without_leaking(
    registry_auth: RegistryServer, tmp_path: Path
) -> None:
    artifact, store, tags = _built(tmp_path)
    wrong = "not-the-password-123"
    client = _client(registry_auth, Credentials(registry_auth.username, wrong))
    with pytest.raises(RegistryAuthError) as info:
        push_to_registry(artifact, store=store, client=client, repo="ns/digits", tags=tags)
    text = str(info.value)
    assert text.startswith(f"registry refused credentials for {registry_auth.host}/ns/digits")
    assert info.value.exit_code == ExitCode.OUTSIDE
    assert wrong not in text and wrong not in repr(info.value)


def test_missing_credentials_say_what_to_set(registry_auth: RegistryServer, tmp_path: Path) -> None:
    artifact, store, tags = _built(tmp_path)
    with pytest.raises(RegistryAuthError, match="requires credentials"):
        push_to_registry(
            artifact, store=store, client=_client(registry_auth), repo="digits", tags=tags
        )


def test_registry_down_is_retried_then_exit_3(tmp_path: Path) -> None:
    artifact, store, tags = _built(tmp_path)
    client = RegistryClient("127.0.0.1:9", plain_http=True, retry=FAST)
    started = time.monotonic()
    with pytest.raises(RegistryError) as info:
        push_to_registry(artifact, store=store, client=client, repo="ns/digits", tags=tags)
    assert "registry 127.0.0.1:9 failed to reach ns/digits after 3 tries" in str(info.value)
    assert info.value.exit_code == ExitCode.OUTSIDE
    assert time.monotonic() - started < 30  # short test delays, not minutes of backoff


def test_registry_stopped_mid_push_fails_after_retries(
    registry: RegistryServer, tmp_path: Path
) -> None:
    artifact, store, tags = _built(tmp_path)
    client = _client(registry)
    calls: list[int] = []

    def stop_on_first_blob(total: int) -> tuple[Callable[[int], None], Callable[[], None]]:
        def advance(amount: int) -> None:
            calls.append(amount)
            registry.stop()  # the registry goes away once the first bytes are in

        return advance, lambda: None

    with pytest.raises(RegistryError) as info:
        push_to_registry(
            artifact,
            store=store,
            client=client,
            repo="ns/digits",
            tags=tags,
            progress=stop_on_first_blob,
        )
    # blobs go up in parallel, so others in flight may still land; the push fails anyway
    assert calls
    assert f"registry {registry.host} failed to" in str(info.value)
    assert "after 3 tries" in str(info.value)
    # the registry comes back: nothing was tagged, and a new push completes
    registry.start()
    assert registry.manifest("ns/digits", tags[0]).status_code == 404
    result = push_to_registry(
        artifact, store=store, client=_client(registry), repo="ns/digits", tags=tags
    )
    assert result.digest == artifact.digest


def test_daemonless_on_a_registry_base(registry: RegistryServer, tmp_path: Path) -> None:
    base_artifact, store, _ = _built(tmp_path, seed=7)
    client = _client(registry)
    push_to_registry(base_artifact, store=store, client=client, repo="base/tiny", tags=("1",))
    base = load_registry_base(parse_base(f"{registry.host}/base/tiny:1"), client)
    assert base.layers == base_artifact.layers
    spec = make_spec(make_export(tmp_path / "model"), base=f"{registry.host}/base/tiny:1")
    fresh = OciLayout(tmp_path / "fresh-store")  # the base layer is not local
    artifact = build_artifact(spec, base=base, store=fresh)
    result = push_to_registry(
        artifact, store=fresh, client=client, repo="other/digits", tags=spec.tags
    )
    assert result.digest == artifact.digest
    assert registry.blob("other/digits", base_artifact.model_layer.digest)


def test_credentials_from_docker_config(tmp_path: Path) -> None:
    auth = base64.b64encode(b"robot:docker-config-secret").decode()
    (tmp_path / "config.json").write_text(
        json.dumps({"auths": {"reg.example:5000": {"auth": auth}}})
    )
    env = {"DOCKER_CONFIG": str(tmp_path)}
    creds = registry_credentials("reg.example:5000", env)
    assert creds == Credentials("robot", "docker-config-secret")
    assert "docker-config-secret" not in repr(creds)
    assert redact("pw docker-config-secret b64 " + auth) == "pw *** b64 ***"
    assert registry_credentials("other.example", env) is None
    env_creds = registry_credentials(
        "reg.example:5000",
        {**env, "LEPTONCI_REGISTRY_USERNAME": "ci", "LEPTONCI_REGISTRY_PASSWORD": "env-secret-1"},
    )
    assert env_creds == Credentials("ci", "env-secret-1")


def test_large_blobs_go_up_in_chunks(registry: RegistryServer, tmp_path: Path) -> None:
    client = RegistryClient(
        registry.host, plain_http=True, retry=FAST, chunk_size=64 << 10, monolithic_limit=1000
    )
    artifact, store, tags = _built(tmp_path)
    sends: list[int] = []

    def progress(total: int) -> tuple[Callable[[int], None], Callable[[], None]]:
        return sends.append, lambda: None

    result = push_to_registry(
        artifact, store=store, client=client, repo="big", tags=tags, progress=progress
    )
    assert result.digest == artifact.digest
    assert len(sends) > 5 and max(sends) <= 64 << 10
    layer = artifact.model_layer
    assert registry.blob("big", layer.digest) == store.read_bytes(layer.digest)
