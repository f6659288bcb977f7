"""Pure image facts: destinations, base references, tags, labels (leptonci/images.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from leptonci.core.errors import ConfigError
from leptonci.core.images import (
    BaseRef,
    BuildSpec,
    Destination,
    epoch_seconds,
    image_labels,
    image_tags,
    parse_base,
    parse_destination,
    plain_http,
    plain_http_hosts,
)


@pytest.mark.parametrize(
    ("text", "expected", "image"),
    [
        (
            "127.0.0.1:5000/ns",
            Destination("registry", host="127.0.0.1:5000", namespace="ns"),
            "127.0.0.1:5000/ns/digits",
        ),
        (
            "ghcr.io/org/team",
            Destination("registry", host="ghcr.io", namespace="org/team"),
            "ghcr.io/org/team/digits",
        ),
        ("localhost:5000", Destination("registry", host="localhost:5000"), "localhost:5000/digits"),
        ("oci-layout:.leptonci/oci", Destination("layout", layout_dir=".leptonci/oci"), "digits"),
    ],
)
def test_destinations(text: str, expected: Destination, image: str) -> None:
    dest = parse_destination(text)
    assert dest == expected
    assert dest.image("digits") == image


@pytest.mark.parametrize("text", ["oci-layout:", "/ns", "host name/ns", "ghcr.io/Bad_Ns"])
def test_bad_destinations(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_destination(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("scratch", BaseRef("scratch")),
        ("", BaseRef("scratch")),
        (
            "tensorflow/serving:2.16.1",
            BaseRef("registry", "registry-1.docker.io", "tensorflow/serving", "2.16.1"),
        ),
        ("busybox", BaseRef("registry", "registry-1.docker.io", "library/busybox", "latest")),
        (
            "127.0.0.1:5000/base/busybox:1",
            BaseRef("registry", "127.0.0.1:5000", "base/busybox", "1"),
        ),
        ("localhost/x", BaseRef("registry", "localhost", "x", "latest")),
        (
            "ghcr.io/o/r@sha256:" + "a" * 64,
            BaseRef("registry", "ghcr.io", "o/r", "sha256:" + "a" * 64),
        ),
        (
            "ghcr.io/o/r:1.0@sha512:" + "b" * 128,
            BaseRef("registry", "ghcr.io", "o/r", "sha512:" + "b" * 128),
        ),
        (
            "docker.io/busybox",
            BaseRef("registry", "registry-1.docker.io", "library/busybox", "latest"),
        ),
        ("oci-layout:base/busybox:1", BaseRef("layout", reference="1", layout_dir="base/busybox")),
        (
            "oci-layout:base/busybox",
            BaseRef("layout", reference="latest", layout_dir="base/busybox"),
        ),
    ],
)
def test_base_refs(text: str, expected: BaseRef) -> None:
    assert parse_base(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "ghcr.io/o/r@sha256:short",
        "UPPER/case:1",
        "oci-layout::1",
        "busybox:1.36-é",
        "ghcr.io/o/r@sha256:" + "A" * 64,
    ],
)
def test_bad_base_refs(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_base(text)
    assert str(info.value).startswith("image.base: ")


def test_a_base_prints_as_it_is_pulled() -> None:
    assert (
        str(parse_base("ghcr.io/o/r:1.0@sha512:" + "b" * 128)) == "ghcr.io/o/r@sha512:" + "b" * 128
    )
    assert str(parse_base("busybox")) == "registry-1.docker.io/library/busybox:latest"


def test_plain_http_only_for_loopback_or_listed_hosts() -> None:
    assert plain_http("127.0.0.1:5000")
    assert plain_http("localhost")
    assert plain_http("[::1]:5000")
    assert not plain_http("ghcr.io")
    assert plain_http("registry.lan:5000", plain_http_hosts("a, registry.lan:5000"))


def test_tags_are_release_and_short_commit() -> None:
    assert image_tags("digits-0123456789ab", "abcdef123456") == (
        "digits-0123456789ab",
        "abcdef123456",
    )
    assert image_tags("digits-0123456789ab", "") == ("digits-0123456789ab",)
    with pytest.raises(ConfigError):
        image_tags("bad tag", "")


def test_labels_carry_source_release_and_verdict() -> None:
    spec = BuildSpec(
        model="digits",
        version=3,
        export_dir=Path("/nowhere"),
        repository="digits",
        release="digits-0123456789ab",
        verdict="passed",
        content_hash="sha256:" + "1" * 64,
        source_commit="c" * 40,
        source_time="2026-01-02T03:04:05Z",
        source_url="https://github.com/example/models",
    )
    assert image_labels(spec) == {
        "io.leptonci.model-hash": "sha256:" + "1" * 64,
        "io.leptonci.release": "digits-0123456789ab",
        "io.leptonci.verdict": "passed",
        "org.opencontainers.image.created": "2026-01-02T03:04:05Z",
        "org.opencontainers.image.revision": "c" * 40,
        "org.opencontainers.image.source": "https://github.com/example/models",
        "org.opencontainers.image.version": "digits-0123456789ab",
    }
    assert spec.model_dir == "/models/digits/3"
    assert spec.mtime == 1767323045


def test_epoch_seconds() -> None:
    assert epoch_seconds("1970-01-01T00:00:00Z") == 0
    assert epoch_seconds("") == 0
    with pytest.raises(ConfigError):
        epoch_seconds("yesterday")
