"""Registries that answer 401 with a Bearer challenge (ghcr.io, Docker Hub, Harbor).

A bearer token is scoped to one repository and one set of actions, so a push needs a
token for ``pull,push`` even after a HEAD got one for ``pull``; and a public base image
is pulled with an anonymous token, no credentials at all.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from leptonci.adapters.images.credentials import Credentials
from leptonci.adapters.images.daemonless import ImageArtifact, build_artifact, prepare_image
from leptonci.adapters.images.layout import OciLayout
from leptonci.adapters.images.registry import RegistryClient, RetryPolicy
from leptonci.adapters.images.transfer import push_to_registry
from leptonci.core.errors import ExitCode, RegistryAuthError
from tests.adapters.test_images_daemonless import make_export, make_spec
from tests.fixtures.registry import BINARY
from tests.fixtures.token_registry import PUBLIC_REPO, TokenRegistryServer
from tests.services import require

pytestmark = pytest.mark.service
FAST = RetryPolicy(attempts=2, base_delay=0.01)


@pytest.fixture
def token_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenRegistryServer]:
    if shutil.which(BINARY) is None:
        require("registry", "docker-registry is not installed (apt-get install docker-registry)")
    server = TokenRegistryServer(tmp_path_factory.mktemp("token-registry"))
    server.start()
    yield server
    server.close()


def _built(tmp_path: Path, *, seed: int = 1) -> tuple[ImageArtifact, OciLayout, tuple[str, ...]]:
    store = OciLayout(tmp_path / "store")
    spec = make_spec(make_export(tmp_path / f"model-{seed}", seed=seed))
    return build_artifact(spec, base=None, store=store), store, spec.tags


def _client(server: TokenRegistryServer, creds: Credentials | None) -> RegistryClient:
    return RegistryClient(server.host, plain_http=True, credentials=creds, retry=FAST)


def test_push_gets_a_push_token_after_a_pull_token(
    token_registry: TokenRegistryServer, tmp_path: Path
) -> None:
    artifact, store, tags = _built(tmp_path)
    creds = Credentials(token_registry.username, token_registry.password)
    result = push_to_registry(
        artifact, store=store, client=_client(token_registry, creds), repo="team/digits", tags=tags
    )
    assert result.digest == artifact.digest
    assert result.bytes_sent == sum(b.size for b in artifact.blobs)
    fresh = _client(token_registry, creds)
    assert fresh.manifest_digest("team/digits", tags[1]) == artifact.digest
    # the registry names the actions in either order ("pull,push" or "push,pull")
    scopes = {scope for scope, _ in token_registry.tokens.requests}
    granted = {
        (scope.rsplit(":", 1)[0], frozenset(scope.rsplit(":", 1)[1].split(","))) for scope in scopes
    }
    assert ("repository:team/digits", frozenset({"pull", "push"})) in granted


def test_a_streamed_push_asks_for_its_push_token_at_the_upload(
    token_registry: TokenRegistryServer, tmp_path: Path
) -> None:
    # nothing is checked first (the layer's digest is not known): the POST meets the 401
    pending = prepare_image(make_spec(make_export(tmp_path / "m")), base=None)
    creds = Credentials(token_registry.username, token_registry.password)
    result = push_to_registry(
        pending, client=_client(token_registry, creds), repo="team/digits", tags=("1",)
    )
    assert result.artifact is not None
    assert result.bytes_sent == pending.layer.size + result.artifact.config.size  # sent once
    assert _client(token_registry, creds).manifest_digest("team/digits", "1") == result.digest


def test_public_image_is_read_with_an_anonymous_token(
    token_registry: TokenRegistryServer, tmp_path: Path
) -> None:
    artifact, store, tags = _built(tmp_path)
    creds = Credentials(token_registry.username, token_registry.password)
    push_to_registry(
        artifact, store=store, client=_client(token_registry, creds), repo=PUBLIC_REPO, tags=tags
    )
    anonymous = _client(token_registry, None)
    assert anonymous.manifest_digest(PUBLIC_REPO, tags[0]) == artifact.digest
    data, _ = anonymous.get_manifest(PUBLIC_REPO, tags[0])
    assert data == artifact.manifest
    assert anonymous.get_blob_bytes(PUBLIC_REPO, artifact.config.digest)


def test_anonymous_push_says_credentials_are_needed(
    token_registry: TokenRegistryServer, tmp_path: Path
) -> None:
    artifact, store, tags = _built(tmp_path)
    with pytest.raises(RegistryAuthError) as info:
        push_to_registry(
            artifact,
            store=store,
            client=_client(token_registry, None),
            repo="team/digits",
            tags=tags,
        )
    assert str(info.value).startswith(
        f"registry {token_registry.host} requires credentials for team/digits"
    )
    assert info.value.exit_code == ExitCode.OUTSIDE


def test_wrong_password_is_refused_without_leaking(
    token_registry: TokenRegistryServer, tmp_path: Path
) -> None:
    artifact, store, tags = _built(tmp_path)
    wrong = "not-the-token-password-77"
    client = _client(token_registry, Credentials(token_registry.username, wrong))
    with pytest.raises(RegistryAuthError) as info:
        push_to_registry(artifact, store=store, client=client, repo="team/digits", tags=tags)
    text = str(info.value)
    assert text.startswith(f"registry refused credentials for {token_registry.host}/team/digits")
    assert wrong not in text and wrong not in repr(info.value)
