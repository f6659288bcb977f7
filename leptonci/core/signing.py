"""Signing keys and DSSE envelopes: pure computation with ``cryptography``, no I/O.

Keys are ECDSA P-256 (what ``cosign generate-key-pair`` makes). A private key is read
from PEM text in one of three forms: PKCS#8 (``PRIVATE KEY``), SEC1 (``EC PRIVATE
KEY``), or cosign's password-encrypted form (``ENCRYPTED SIGSTORE PRIVATE KEY``, or
the older ``ENCRYPTED COSIGN PRIVATE KEY``): a JSON document holding scrypt parameters
and a salt, a NaCl secretbox nonce, and the sealed PKCS#8 bytes. Public keys are PEM
``PUBLIC KEY`` (SubjectPublicKeyInfo), the file ``cosign.pub`` is.

A DSSE envelope signs ``PAE(payloadType, payload)`` (the DSSE v1 pre-authentication
encoding); signatures are ASN.1 DER ECDSA over SHA-256, as cosign writes them. A key's
id is ``sha256:`` and the hex SHA-256 of its SubjectPublicKeyInfo DER; leptonci writes
it into each signature's ``keyid`` so a verifier can tell "signed by a key I do not
trust" from "the content was changed after signing".

Where the PEM text comes from (a file, an environment variable) is the caller's
business; the text and the password are secrets and never go into an error message.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from dataclasses import dataclass

import nacl.exceptions
import nacl.secret
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from leptonci.core.errors import ConfigError

ENCRYPTED_LABELS = ("ENCRYPTED SIGSTORE PRIVATE KEY", "ENCRYPTED COSIGN PRIVATE KEY")
# cosign's scrypt parameters; a key file asking for others is refused (a costly KDF is a
# way to make a verifier spin)
SCRYPT_N, SCRYPT_R, SCRYPT_P = 32768, 8, 1
SECRETBOX = "nacl/secretbox"


@dataclass(frozen=True)
class PublicKey:
    key: ec.EllipticCurvePublicKey

    @property
    def der(self) -> bytes:
        return self.key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    @property
    def keyid(self) -> str:
        return "sha256:" + hashlib.sha256(self.der).hexdigest()

    @property
    def pem(self) -> str:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()

    def verifies(self, data: bytes, signature: bytes) -> bool:
        try:
            self.key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True)
class SigningKey:
    key: ec.EllipticCurvePrivateKey

    @property
    def public(self) -> PublicKey:
        return PublicKey(self.key.public_key())

    def sign(self, data: bytes) -> bytes:
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))

    def __repr__(self) -> str:  # never the key material, even in a traceback
        return f"SigningKey({self.public.keyid})"


@dataclass(frozen=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True)
class Envelope:
    """A DSSE envelope: the payload, its type, and signatures over their PAE."""

    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "payload": base64.b64encode(self.payload).decode(),
            "payloadType": self.payload_type,
            "signatures": [
                {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode()} for s in self.signatures
            ],
        }

    @classmethod
    def from_json(cls, data: object) -> Envelope:
        if not isinstance(data, dict):
            raise ValueError("a DSSE envelope is a JSON object")
        try:
            payload = base64.b64decode(str(data["payload"]), validate=True)
            signatures = tuple(
                Signature(str(s.get("keyid") or ""), base64.b64decode(str(s["sig"])))
                for s in data.get("signatures") or ()
            )
            return cls(str(data["payloadType"]), payload, signatures)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"not a DSSE envelope ({type(exc).__name__})") from None


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1's pre-authentication encoding: what is actually signed."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def sign_envelope(payload_type: str, payload: bytes, key: SigningKey) -> Envelope:
    signature = Signature(key.public.keyid, key.sign(pae(payload_type, payload)))
    return Envelope(payload_type, payload, (signature,))


@dataclass(frozen=True)
class EnvelopeCheck:
    """Which trusted key verified the envelope, or why none did."""

    keyid: str | None  # the trusted key whose signature verified
    problem: str  # "" when verified; else "untrusted-key" | "bad-signature" | "unsigned"
    signed_by: tuple[str, ...] = ()  # the key ids the envelope's signatures name


def check_envelope(envelope: Envelope, trusted: tuple[PublicKey, ...]) -> EnvelopeCheck:
    """Verify envelope against trusted keys. A signature naming a trusted key that does
    not verify means the content changed after signing; one naming no trusted key, an
    untrusted signer (a signature without a keyid is tried against every key)."""
    named = tuple(s.keyid for s in envelope.signatures)
    if not envelope.signatures:
        return EnvelopeCheck(None, "unsigned")
    data = pae(envelope.payload_type, envelope.payload)
    by_id = {k.keyid: k for k in trusted}
    tried_trusted = False
    for signature in envelope.signatures:
        candidates = [by_id[signature.keyid]] if signature.keyid in by_id else []
        if not signature.keyid:
            candidates = list(trusted)
        for key in candidates:
            tried_trusted = True
            if key.verifies(data, signature.sig):
                return EnvelopeCheck(key.keyid, "", named)
    return EnvelopeCheck(None, "bad-signature" if tried_trusted else "untrusted-key", named)


# -- reading keys ----------------------------------------------------------------------


def load_public_key(text: str, *, name: str) -> PublicKey:
    """A PEM ``PUBLIC KEY`` (cosign.pub); name says where it came from, for errors."""
    try:
        key = serialization.load_pem_public_key(text.encode())
    except ValueError:
        raise ConfigError(f"{name} is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigError(f"{name} is not an ECDSA P-256 public key")
    return PublicKey(key)


def load_signing_key(text: str, *, password: str | None, name: str) -> SigningKey:
    """A private key from PEM text: PKCS#8, SEC1 or cosign's encrypted form."""
    label = _pem_label(text)
    if label is None:
        raise ConfigError(f"{name} is not a PEM private key")
    if label in ENCRYPTED_LABELS:
        if password is None:
            raise ConfigError(
                f"{name} is encrypted and no password is set",
                hint="set LEPTONCI_SIGNING_PASSWORD (or COSIGN_PASSWORD)",
            )
        der = _decrypt_cosign(_pem_body(text), password, name=name)
        try:
            key = serialization.load_der_private_key(der, password=None)
        except ValueError:
            raise ConfigError(f"{name}: the decrypted key is not PKCS#8") from None
    else:
        secret = password.encode() if password and "ENCRYPTED" in label else None
        try:
            key = serialization.load_pem_private_key(text.encode(), password=secret)
        except (ValueError, TypeError):
            raise ConfigError(
                f"{name} could not be read as a private key (wrong password?)"
            ) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ConfigError(f"{name} is not an ECDSA P-256 key", hint="cosign generate-key-pair")
    return SigningKey(key)


def generate_signing_key() -> SigningKey:
    return SigningKey(ec.generate_private_key(ec.SECP256R1()))


def private_pem(key: SigningKey) -> str:
    """PKCS#8 PEM, unencrypted."""
    return key.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def encrypted_pem(key: SigningKey, password: str) -> str:
    """cosign's encrypted private key PEM (what `cosign generate-key-pair` writes)."""
    der = key.key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    salt, nonce = os.urandom(32), os.urandom(nacl.secret.SecretBox.NONCE_SIZE)
    box = nacl.secret.SecretBox(_scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))
    sealed = box.encrypt(der, nonce).ciphertext
    document = {
        "kdf": {
            "name": "scrypt",
            "params": {"N": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P},
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": {"name": SECRETBOX, "nonce": base64.b64encode(nonce).decode()},
        "ciphertext": base64.b64encode(sealed).decode(),
    }
    body = base64.b64encode(json.dumps(document).encode()).decode()
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    label = ENCRYPTED_LABELS[0]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def pem_secret_parts(text: str) -> list[str]:
    """What of a private key's PEM text must be masked: the whole and each body line."""
    return [text.strip(), _pem_body_text(text), *(line.strip() for line in _body_lines(text))]


def _scrypt(password: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(password.encode())


def _decrypt_cosign(body: bytes, password: str, *, name: str) -> bytes:
    try:
        document = json.loads(body)
        kdf, cipher = document["kdf"], document["cipher"]
        params = kdf["params"]
        salt = base64.b64decode(kdf["salt"])
        nonce = base64.b64decode(cipher["nonce"])
        sealed = base64.b64decode(document["ciphertext"])
    except (ValueError, KeyError, TypeError):
        raise ConfigError(f"{name} is not a cosign encrypted key document") from None
    if kdf.get("name") != "scrypt" or cipher.get("name") != SECRETBOX:
        raise ConfigError(
            f"{name}: unsupported key encryption {kdf.get('name')}/{cipher.get('name')}"
        )
    if (params.get("N"), params.get("r"), params.get("p")) != (SCRYPT_N, SCRYPT_R, SCRYPT_P):
        raise ConfigError(f"{name}: unexpected scrypt parameters")
    box = nacl.secret.SecretBox(_scrypt(password, salt, SCRYPT_N, SCRYPT_R, SCRYPT_P))
    try:
        return bytes(box.decrypt(sealed, nonce))
    except nacl.exceptions.CryptoError:
        raise ConfigError(
            f"{name} could not be decrypted: wrong password",
            hint="check LEPTONCI_SIGNING_PASSWORD (or COSIGN_PASSWORD)",
        ) from None


def _pem_label(text: str) -> str | None:
    for line in text.strip().splitlines():
        line = line.strip()
        if line.startswith("-----BEGIN ") and line.endswith("-----"):
            return line[len("-----BEGIN ") : -len("-----")]
    return None


def _body_lines(text: str) -> list[str]:
    lines = [line.strip() for line in text.strip().splitlines()]
    return [line for line in lines if line and not line.startswith("-----") and ":" not in line]


def _pem_body_text(text: str) -> str:
    return "".join(_body_lines(text))


def _pem_body(text: str) -> bytes:
    try:
        return base64.b64decode(_pem_body_text(text), validate=True)
    except ValueError:
        raise ConfigError("the private key's PEM body is not base64") from None
