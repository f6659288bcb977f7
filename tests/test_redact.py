from __future__ import annotations

import base64

import pytest

from leptonci.core.redact import MASK, redact, redact_obj, register_secret


@pytest.mark.parametrize(
    "text, secret",
    [
        ("Authorization: Bearer abcdef123456", "abcdef123456"),
        ("authorization: Basic dXNlcjpwYXNz", "dXNlcjpwYXNz"),
        ("fetch https://bot:hunter2pass@github.com/o/r.git", "hunter2pass"),
        (
            "token ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
            "ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
        ),
        ("github_pat_11ABCDEFG0123456789_abcdefghijklmnop", "github_pat_11ABCDEFG0123456789"),
        ('{"password": "s3cr3t-value"}', "s3cr3t-value"),
        ("client-key-data: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVk=", "LS0tLS1CRUdJTiBSU0Eg"),
        ("docker login --password hunter2 registry", "hunter2"),
        ("GITHUB_TOKEN=abc123def456", "abc123def456"),
    ],
)
def test_patterns_mask_unregistered_secrets(text: str, secret: str) -> None:
    out = redact(text)
    assert secret not in out
    assert MASK in out


def test_registered_secret_and_its_base64_are_masked() -> None:
    register_secret("p4ssw0rd-registry")
    encoded = base64.b64encode(b"p4ssw0rd-registry").decode()
    out = redact(f"push failed for user with p4ssw0rd-registry and auth {encoded}")
    assert "p4ssw0rd-registry" not in out
    assert encoded not in out


def test_redact_obj_walks_structures() -> None:
    register_secret("tok-xyz-123456")
    data = {"a": ["x tok-xyz-123456"], "b": {"c": "tok-xyz-123456"}, "n": 3}
    assert "tok-xyz-123456" not in str(redact_obj(data))


def test_plain_text_is_untouched() -> None:
    text = "accuracy 0.953 >= 0.900 ok; image 127.0.0.1:5000/ns/digits@sha256:abc"
    assert redact(text) == text


def test_source_urls_lose_credentials_even_with_at_signs_in_the_password() -> None:
    from leptonci.adapters.git import _public_url

    assert _public_url("https://bot:p@ss@github.com/o/r.git") == "https://github.com/o/r"
    assert _public_url("https://x-access-token:tok@github.com/o/r") == "https://github.com/o/r"
    assert _public_url("git@github.com:o/r.git") == "https://github.com/o/r"
    assert _public_url("https://github.com/o/r.git") == "https://github.com/o/r"


def test_debug_tracebacks_are_redacted(tmp_path, capsys) -> None:  # type: ignore[no-untyped-def]
    from leptonci.cli import main

    secret = "hunter2-debug-secret"
    register_secret(secret)
    code = main(["--debug", "-C", str(tmp_path / f"nowhere-{secret}"), "status"])
    err = capsys.readouterr().err
    assert code == 2
    assert "Traceback" in err and secret not in err
