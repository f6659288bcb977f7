from __future__ import annotations

import base64
import io
import json

import pytest

from leptonci.core.redact import (
    MASK,
    excerpt,
    redact,
    redact_obj,
    register_credentials,
    register_secret,
    register_url_credentials,
)
from leptonci.runtime.output import Output
from tests.fixtures.secret_forms import secret_forms

CI_USER = "ci-bot"  # 7 bytes with the ':': base64 of the password inside the pair misaligns
PASSWORD = 'k3y:p@ss/w%rd-ö "q\\kk?ö'  # ':', '@', '/', '%', non-ASCII, ' ', '"', '\\'
# the plain value and standard padded base64 of the value were masked before; the rest not
NEW_FORMS = [
    name
    for name in secret_forms(PASSWORD, username=CI_USER)
    if name not in ("plain", "base64 of the secret")
]


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


@pytest.mark.parametrize(
    "text",
    [
        "accuracy 0.953 >= 0.900 ok; image 127.0.0.1:5000/ns/digits@sha256:abc",
        'WWW-Authenticate: Bearer realm="https://auth.example/token",service="registry"',
        "the registry wants basic auth; a bearer token is scoped to one repository",
    ],
)
def test_plain_text_is_untouched(text: str) -> None:
    assert redact(text) == text


@pytest.mark.parametrize("form_name", NEW_FORMS)
def test_every_encoding_of_registered_credentials_is_masked(
    fresh_redaction: None, form_name: str
) -> None:
    register_credentials(CI_USER, PASSWORD)
    form = secret_forms(PASSWORD, username=CI_USER)[form_name]
    out = redact(f"registry said: rejected {form} (retry later)")
    assert form not in out
    assert out == f"registry said: rejected {MASK} (retry later)"


def test_basic_auth_sent_as_latin_1_is_masked(fresh_redaction: None) -> None:
    # requests encodes credentials taken from a URL's userinfo as Latin-1, not UTF-8
    register_credentials(CI_USER, PASSWORD)
    sent = base64.b64encode(f"{CI_USER}:{PASSWORD}".encode("latin-1")).decode()
    assert redact(f"echo {sent} end") == f"echo {MASK} end"


def test_a_base64_blob_holding_a_registered_secret_is_masked_whole(
    fresh_redaction: None,
) -> None:
    # a Kubernetes pull secret: base64 of a whole Docker config, the password JSON-escaped
    # somewhere inside it, at an offset no fixed encoding of the password lines up with
    register_credentials(CI_USER, PASSWORD)
    config = {"auths": {"registry.example:5000": {"username": CI_USER, "password": PASSWORD}}}
    blob = base64.b64encode(json.dumps(config).encode()).decode()
    assert redact(f".dockerconfigjson: {blob} (denied)") == f".dockerconfigjson: {MASK} (denied)"


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            '{"Authorization": ["Basic Y2ktYm90OnVua25vd24tcHc="]}',
            '{"Authorization": ["Basic ***"]}',
        ),
        (
            "upstream rejected Basic Y2ktYm90OnVua25vd24tcHc= for /v2/",
            "upstream rejected Basic *** for /v2/",
        ),
        ("Authorization: Bearer abc,def}gh'i", "Authorization: Bearer ***'i"),
        ("rejected: bearer eyJhbGciOi.J9x-y_z", "rejected: bearer ***"),
    ],
)
def test_basic_and_bearer_values_are_masked_whole_without_a_header_name(
    text: str, expected: str
) -> None:
    assert redact(text) == expected


def test_url_userinfo_is_masked_up_to_the_last_at_sign() -> None:
    assert redact("fetch https://bot:p@ss@host/x.git") == "fetch https://bot:***@host/x.git"


def test_credentials_in_remote_urls_are_registered_decoded(fresh_redaction: None) -> None:
    encoded = "k3y%3Ap%40ss%2Fw%25rd-%c3%b6%20%22q%5Ckk%3F%C3%B6"  # either hex case, as typed
    register_url_credentials(f"remote.origin.pushurl https://{CI_USER}:{encoded}@git.example/r")
    basic = base64.b64encode(f"{CI_USER}:{PASSWORD}".encode()).decode()
    out = redact(f"remote: denied {basic} which is {CI_USER}:{PASSWORD}")
    assert out == f"remote: denied {MASK} which is {CI_USER}:{MASK}"


def test_an_excerpt_is_one_short_line_redacted_before_it_is_cut(fresh_redaction: None) -> None:
    register_secret("straddling-secret-0042")
    body = "error:\n  " + "x" * 190 + " straddling-secret-0042 and more\n" + "y" * 500
    line = excerpt(body)
    assert "\n" not in line and len(line) <= 200
    assert "stradd" not in line and line.startswith("error: xxx")
    tail = excerpt("first\nsecond\n" + "z" * 300 + " last", 50, tail=True)
    assert len(tail) == 50 and tail.endswith("z last") and "\n" not in tail


def test_in_actions_each_secret_is_announced_once_before_use(fresh_redaction: None) -> None:
    out = Output(env={"GITHUB_ACTIONS": "true"}, stdout=io.StringIO(), stderr=io.StringIO())
    register_credentials(CI_USER, PASSWORD)
    register_secret(PASSWORD)
    register_secret("line-one-of-a-key\nline-two-of-a-key")
    out.info(f"pushing with {PASSWORD}")
    pair = base64.b64encode(f"{CI_USER}:{PASSWORD}".encode()).decode().rstrip("=")
    assert "/" in pair  # so the URL-safe form differs and is announced too
    assert out.stdout.getvalue().splitlines() == [
        "::add-mask::" + PASSWORD.replace("%", "%25"),
        "::add-mask::" + pair,
        "::add-mask::" + pair.replace("+", "-").replace("/", "_"),
        "::add-mask::line-one-of-a-key",
        "::add-mask::line-two-of-a-key",
        f"pushing with {MASK}",
    ]


def test_with_json_the_announcements_stay_off_stdout(fresh_redaction: None) -> None:
    env = {"GITHUB_ACTIONS": "true"}
    out = Output(json_mode=True, env=env, stdout=io.StringIO(), stderr=io.StringIO())
    register_secret("a-token-from-the-service")
    out.result({"ok": True})
    assert json.loads(out.stdout.getvalue()) == {"ok": True}
    assert out.stderr.getvalue() == "::add-mask::a-token-from-the-service\n"


def test_kubeconfig_credentials_are_registered_as_pairs(fresh_redaction: None) -> None:
    from leptonci.adapters.kube_client import register_kubeconfig_secrets

    out = Output(env={"GITHUB_ACTIONS": "true"}, stdout=io.StringIO(), stderr=io.StringIO())
    register_kubeconfig_secrets(
        f"users:\n- name: ci\n  user:\n    username: {CI_USER}\n    password: kube-pw-9f8e7d\n"
    )
    basic = base64.b64encode(f"{CI_USER}:kube-pw-9f8e7d".encode()).decode()
    assert redact(f"apiserver echoed {basic}") == f"apiserver echoed {MASK}"
    assert "::add-mask::kube-pw-9f8e7d" in out.stdout.getvalue().splitlines()


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
