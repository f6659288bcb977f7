"""A pushed tag is never moved: one release id names exactly one image digest, on the
real registry (Debian's docker-registry) and in an OCI layout."""

from __future__ import annotations

from pathlib import Path

import pytest

from leptonci.adapters.images.daemonless import build_artifact
from leptonci.adapters.images.layout import OciLayout
from leptonci.adapters.images.registry import RegistryClient, RetryPolicy
from leptonci.adapters.images.transfer import push_to_layout, push_to_registry
from leptonci.core.errors import ExitCode, TagTaken
from tests.adapters.test_images_daemonless import make_export, make_spec
from tests.adapters.test_images_push import _pending
from tests.fixtures.registry import RegistryServer

pytestmark = pytest.mark.service


def _client(server: RegistryServer) -> RegistryClient:
    return RegistryClient(server.host, plain_http=True, retry=RetryPolicy(attempts=3))


def _tagged(server: RegistryServer, repo: str, tag: str) -> str:
    return _client(server).manifest_digest(repo, tag) or ""


def test_a_streamed_image_of_other_bytes_under_a_pushed_release_id_is_refused(
    registry: RegistryServer, tmp_path: Path
) -> None:
    first = _pending(tmp_path, seed=1)
    tags = first.spec.tags
    pushed = push_to_registry(first, client=_client(registry), repo="ml/digits", tags=tags)
    retrained = _pending(tmp_path, seed=2)  # the same release id, other model bytes
    assert retrained.spec.tags == tags and retrained.artifact is None  # digest learnt streaming
    with pytest.raises(TagTaken) as err:
        push_to_registry(retrained, client=_client(registry), repo="ml/digits", tags=tags)
    assert err.value.exit_code == ExitCode.NO
    message = str(err.value)
    assert pushed.digest in message and f"ml/digits:{tags[0]}" in message
    other = build_artifact(retrained.spec, base=None, store=None).digest
    assert other != pushed.digest and other in message  # both digests named
    for tag in tags:  # neither tag moved
        assert _tagged(registry, "ml/digits", tag) == pushed.digest


def test_a_known_digest_is_refused_before_any_blob_is_sent(
    registry: RegistryServer, tmp_path: Path
) -> None:
    first = _pending(tmp_path, seed=1)
    push_to_registry(first, client=_client(registry), repo="d", tags=first.spec.tags)
    store = OciLayout(tmp_path / "store")
    other = build_artifact(make_spec(make_export(tmp_path / "b", seed=3)), base=None, store=store)
    with pytest.raises(TagTaken, match=other.digest):
        push_to_registry(
            other, store=store, client=_client(registry), repo="d", tags=first.spec.tags
        )
    assert not _client(registry).has_blob("d", other.model_layer.digest)


def test_pushing_the_same_image_again_is_fine(registry: RegistryServer, tmp_path: Path) -> None:
    first = _pending(tmp_path, seed=1)
    one = push_to_registry(first, client=_client(registry), repo="d", tags=first.spec.tags)
    store = OciLayout(tmp_path / "store")
    same = build_artifact(first.spec, base=None, store=store)
    two = push_to_registry(
        same, store=store, client=_client(registry), repo="d", tags=first.spec.tags
    )
    assert one.digest == two.digest and two.bytes_sent == 0


def test_an_oci_layout_tag_is_never_moved(tmp_path: Path) -> None:
    store, layout = OciLayout(tmp_path / "store"), OciLayout(tmp_path / "layout")
    spec = make_spec(make_export(tmp_path / "a", seed=1))
    first = build_artifact(spec, base=None, store=store)
    push_to_layout(first, store=store, layout=layout, tags=spec.tags)
    other = build_artifact(make_spec(make_export(tmp_path / "b", seed=2)), base=None, store=store)
    with pytest.raises(TagTaken, match=first.digest):
        push_to_layout(other, store=store, layout=layout, tags=spec.tags)
    found = layout.resolve(spec.tags[0])
    assert found is not None and found.digest == first.digest
