"""Signing keys in the formats cosign reads and writes, and DSSE envelopes."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from leptonci.core.errors import ConfigError
from leptonci.core.signing import (
    Envelope,
    check_envelope,
    encrypted_pem,
    generate_signing_key,
    load_public_key,
    load_signing_key,
    pae,
    pem_secret_parts,
    private_pem,
    sign_envelope,
)


def test_pae_is_the_dsse_v1_encoding() -> None:
    # the example in the DSSE protocol description
    assert pae("http://example.com/HelloWorld", b"hello world") == (
        b"DSSEv1 29 http://example.com/HelloWorld 11 hello world"
    )


def test_keys_load_from_pkcs8_sec1_and_cosigns_encrypted_form() -> None:
    key = generate_signing_key()
    sec1 = key.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()
    encrypted = encrypted_pem(key, "pw-ünïcode 1")
    assert encrypted.startswith("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    body = "".join(encrypted.strip().splitlines()[1:-1])
    document = json.loads(base64.b64decode(body))
    assert document["kdf"]["name"] == "scrypt" and document["kdf"]["params"] == {
        "N": 32768,
        "r": 8,
        "p": 1,
    }
    assert document["cipher"]["name"] == "nacl/secretbox"
    assert len(base64.b64decode(document["cipher"]["nonce"])) == 24
    for text, password in ((private_pem(key), None), (sec1, None), (encrypted, "pw-ünïcode 1")):
        loaded = load_signing_key(text, password=password, name="k")
        assert loaded.public.keyid == key.public.keyid
    old_label = encrypted.replace("SIGSTORE", "COSIGN")
    assert (
        load_signing_key(old_label, password="pw-ünïcode 1", name="k").public.keyid
        == key.public.keyid
    )


@pytest.mark.parametrize(
    "text, password, message",
    [
        ("not a key", None, "k is not a PEM private key"),
        ("ENCRYPTED", None, "k is not a PEM private key"),
    ],
)
def test_bad_key_text_is_refused_without_showing_it(
    text: str, password: str | None, message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        load_signing_key(text, password=password, name="k")


def test_an_encrypted_key_needs_the_right_password_and_never_shows_it() -> None:
    encrypted = encrypted_pem(generate_signing_key(), "right-password-1")
    with pytest.raises(ConfigError, match="no password is set"):
        load_signing_key(encrypted, password=None, name="k")
    with pytest.raises(ConfigError) as wrong:
        load_signing_key(encrypted, password="wrong-password-2", name="k")
    assert "wrong password" in str(wrong.value)
    for part in ("wrong-password-2", "right-password-1", *pem_secret_parts(encrypted)[2:]):
        assert part not in str(wrong.value)


def test_only_p256_keys_are_taken() -> None:
    other = ec.generate_private_key(ec.SECP384R1())
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    with pytest.raises(ConfigError, match="not an ECDSA P-256 key"):
        load_signing_key(pem, password=None, name="k")
    rsa_pub = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    text = rsa_pub.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()
    with pytest.raises(ConfigError, match="not an ECDSA P-256 public key"):
        load_public_key(text, name="cosign.pub")


def test_check_envelope_tells_tampering_from_an_untrusted_key() -> None:
    key, other = generate_signing_key(), generate_signing_key()
    envelope = sign_envelope("application/vnd.in-toto+json", b'{"a":1}', key)
    assert check_envelope(envelope, (key.public,)).keyid == key.public.keyid
    changed = Envelope(envelope.payload_type, b'{"a":2}', envelope.signatures)
    assert check_envelope(changed, (key.public,)).problem == "bad-signature"
    retyped = Envelope("text/plain", envelope.payload, envelope.signatures)
    assert check_envelope(retyped, (key.public,)).problem == "bad-signature"
    assert check_envelope(envelope, (other.public,)).problem == "untrusted-key"
    assert check_envelope(Envelope("t", b"x", ()), (key.public,)).problem == "unsigned"
    assert Envelope.from_json(envelope.to_json()) == envelope
    with pytest.raises(ValueError):
        Envelope.from_json({"payload": "!!", "payloadType": "t"})
    assert key.public.keyid not in repr(key.key.private_numbers().private_value)
    assert "PRIVATE" not in repr(key)
