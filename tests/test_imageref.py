"""Image references: a table of the grammar's corners, and properties over generated ones."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from leptonci.core.errors import ConfigError
from leptonci.core.imageref import ImageRef, short_digest, split_ref

SHA256 = "sha256:" + "0123456789abcdef" * 4
SHA512 = "sha512:" + "fedcba9876543210" * 8


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("busybox", ImageRef(None, "busybox")),
        ("leptonci/digits:r-1", ImageRef(None, "leptonci/digits", "r-1")),
        ("localhost/x", ImageRef("localhost", "x")),
        ("localhost:5000/digits", ImageRef("localhost:5000", "digits")),
        ("localhost:5000", ImageRef(None, "localhost", "5000")),  # one component: a tag
        ("registry.example.com", ImageRef(None, "registry.example.com")),
        ("Registry.Example.com:443/a/b", ImageRef("Registry.Example.com:443", "a/b")),
        ("[::1]:5000/ml/digits", ImageRef("[::1]:5000", "ml/digits")),
        ("a__b/c--d/e.f_g", ImageRef(None, "a__b/c--d/e.f_g")),
        (f"ghcr.io/o/r@{SHA256}", ImageRef("ghcr.io", "o/r", None, SHA256)),
        (f"ghcr.io/o/r:_T.1-x@{SHA512}", ImageRef("ghcr.io", "o/r", "_T.1-x", SHA512)),
    ],
)
def test_parse_reads_the_grammar(text: str, expected: ImageRef) -> None:
    assert ImageRef.parse(text) == expected
    assert str(expected) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "x:",
        "x@",
        "Leptonci/Digits",
        "UPPER/case:1",
        "http://registry/x",
        "a//b",
        "a/",
        "-a",
        "a_-b",
        "a___b",
        "host_name.io/x",
        "x:-tag",
        "x:.tag",
        "x:" + "t" * 129,
        "x:tag\n",
        "x:é",
        "x:r٣",  # a Unicode digit: `\w` took it
        "x@sha256:short",
        "x@sha256:" + "A" * 64,
        "x@md5:" + "a" * 32,
        "x@sha512:" + "a" * 64,
        "ghcr.io/" + "a" * 250,
    ],
)
def test_parse_refuses_what_the_grammar_does_not_allow(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        ImageRef.parse(text)
    assert "\n" not in str(info.value)


def test_a_path_that_would_read_back_as_a_host_is_refused() -> None:
    with pytest.raises(ConfigError, match="starts with a host name"):
        ImageRef(None, "ghcr.io/o/r")
    with pytest.raises(ConfigError, match="starts with a host name"):
        ImageRef(None, "localhost/x")


@pytest.mark.parametrize(
    ("digest", "short"),
    [
        (SHA256, "sha256:0123456789ab"),
        (SHA512, "sha512:fedcba987654"),
        ("", "-"),
        (None, "-"),
    ],
)
def test_short_digest_keeps_the_algorithm(digest: str | None, short: str) -> None:
    assert short_digest(digest) == short


# -- properties ---------------------------------------------------------------------------

_alnum = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_sep = st.sampled_from([".", "_", "__", "-", "--"])


@st.composite
def components(draw: st.DrawFn) -> str:
    parts = [draw(_alnum)]
    for _ in range(draw(st.integers(0, 2))):
        parts += [draw(_sep), draw(_alnum)]
    return "".join(parts)


_label = st.from_regex(r"[A-Za-z0-9]([A-Za-z0-9-]{0,6}[A-Za-z0-9])?", fullmatch=True)
_port = st.integers(1, 65535).map(lambda p: f":{p}")
hosts = st.one_of(
    st.tuples(st.lists(_label, min_size=2, max_size=3), st.just("") | _port).map(
        lambda t: ".".join(t[0]) + t[1]
    ),
    st.tuples(_label, _port).map("".join),
    st.just("localhost") | _port.map(lambda p: "localhost" + p),
    st.sampled_from(["[::1]", "[fe80::1]:5000", "127.0.0.1:5000"]),
)
repositories = st.lists(components(), min_size=1, max_size=3).map("/".join)
tags = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", fullmatch=True)
digests = st.one_of(
    st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: "sha256:" + h),
    st.text("0123456789abcdef", min_size=128, max_size=128).map(lambda h: "sha512:" + h),
)


@st.composite
def refs(draw: st.DrawFn) -> ImageRef:
    registry = draw(st.none() | hosts)
    repository = draw(repositories)
    first = repository.partition("/")[0]
    if registry is None and "/" in repository and ("." in first or first == "localhost"):
        registry = "localhost"  # such a path needs its host written out
    return ImageRef(registry, repository, draw(st.none() | tags), draw(st.none() | digests))


@given(refs())
def test_parse_reads_back_what_format_writes(ref: ImageRef) -> None:
    text = ref.format()
    assert ImageRef.parse(text) == ref
    assert split_ref(text) == (ref.name, ref.tag, ref.digest)


def _non_ascii(categories: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.characters(categories=categories, min_codepoint=128)


@given(refs(), tags, st.integers(0, 127), _non_ascii(("L", "Nd")))
def test_a_tag_with_a_unicode_letter_or_digit_is_refused(
    ref: ImageRef, tag: str, at: int, char: str
) -> None:
    bad = tag[: at % (len(tag) + 1)] + char + tag[at % (len(tag) + 1) :]
    with pytest.raises(ConfigError, match="bad tag"):
        ImageRef.parse(f"{ref.name}:{bad}")


@given(refs(), st.integers(0, 255))
def test_an_upper_case_repository_is_refused(ref: ImageRef, at: int) -> None:
    letters = [i for i, c in enumerate(ref.repository) if c.isalpha()]
    if not letters:
        return
    i = letters[at % len(letters)]
    upper = ref.repository[:i] + ref.repository[i].upper() + ref.repository[i + 1 :]
    text = (f"{ref.registry}/" if ref.registry else "") + upper
    with pytest.raises(ConfigError, match="bad repository path"):
        ImageRef.parse(text)


bad_digests = st.one_of(
    st.integers(0, 130).filter(lambda n: n != 64).map(lambda n: "sha256:" + "a" * n),
    st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: "sha512:" + h),
    st.text("0123456789ABCDEF", min_size=64, max_size=64)
    .filter(lambda h: h != h.lower())
    .map(lambda h: "sha256:" + h),
    st.sampled_from(["md5:", "sha1:", "SHA256:", "sha256", ""]).map(lambda a: a + "a" * 64),
)


@given(refs(), bad_digests)
def test_a_bad_digest_is_refused(ref: ImageRef, digest: str) -> None:
    with pytest.raises(ConfigError, match="bad digest"):
        ImageRef.parse(f"{ref.name}@{digest}")
