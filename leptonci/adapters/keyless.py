"""Keyless signing: the workflow's OIDC token, a Fulcio certificate, a Rekor entry.

In GitHub Actions a job with ``permissions: id-token: write`` gets
``ACTIONS_ID_TOKEN_REQUEST_URL`` and ``ACTIONS_ID_TOKEN_REQUEST_TOKEN``; ``oidc_token``
asks that endpoint for a token with the audience ``sigstore``. Both the request token
and the identity token are secrets: they are registered for redaction the moment they
are known and never put into a message.

Signing and verifying go through a ``KeylessBackend``. The real one is the ``sigstore``
package against Sigstore's public-good instance: an ephemeral key, a certificate from
Fulcio for the token's identity, the DSSE envelope logged in Rekor, all in one bundle;
verification checks the certificate chain, the log entry and the signature against
Sigstore's trusted root, and this module reads the identity and issuer out of the
certificate for the environment's rule to compare. ``backend()`` is the edge tests
replace (there is no network to Fulcio or Rekor in them).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol
from urllib.parse import urlencode, urlsplit

import requests
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ObjectIdentifier

from leptonci.core.attestation import Keyless
from leptonci.core.errors import ConfigError, OutsideError
from leptonci.core.redact import excerpt, register_secret

AUDIENCE = "sigstore"
ISSUER_V1 = ObjectIdentifier("1.3.6.1.4.1.57264.1.1")
ISSUER_V2 = ObjectIdentifier("1.3.6.1.4.1.57264.1.8")


class KeylessBackend(Protocol):
    def sign(self, payload: bytes, *, token: str) -> bytes:
        """Sign an in-toto statement (DSSE); the Sigstore bundle as JSON bytes."""
        ...

    def verify(self, bundle: bytes) -> tuple[bytes, Keyless]:
        """The signed payload and who signed it (problem set when it does not verify)."""
        ...


def can_sign(env: Mapping[str, str]) -> bool:
    """Whether this job may ask for an OIDC token (``id-token: write`` in Actions)."""
    return bool(
        env.get("ACTIONS_ID_TOKEN_REQUEST_URL") and env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    )


def oidc_token(env: Mapping[str, str], *, timeout: float = 10.0) -> str:
    """The workflow's OIDC identity token for Sigstore."""
    url, bearer = env.get("ACTIONS_ID_TOKEN_REQUEST_URL"), env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN")
    if not url or not bearer:
        raise ConfigError(
            "keyless signing needs the job's OIDC token, and this job has none",
            hint="give the job `permissions: id-token: write`, or sign with a key "
            "(LEPTONCI_SIGNING_KEY or LEPTONCI_SIGNING_KEY_FILE)",
        )
    register_secret(bearer)
    sep = "&" if urlsplit(url).query else "?"
    where = urlsplit(url).netloc
    try:
        response = requests.get(
            f"{url}{sep}{urlencode({'audience': AUDIENCE})}",
            headers={"Authorization": f"bearer {bearer}", "Accept": "application/json"},
            timeout=timeout,
        )
    except requests.RequestException as exc:
        raise OutsideError(
            f"could not reach the OIDC token service {where}: {type(exc).__name__}"
        ) from None
    if response.status_code != 200:
        raise OutsideError(
            f"the OIDC token service {where} answered {response.status_code} "
            f"{excerpt(response.text)}".rstrip(),
            hint="check the job's `permissions: id-token: write`",
        )
    try:
        token = str(response.json()["value"])
    except (ValueError, KeyError, TypeError):
        raise OutsideError(f"the OIDC token service {where} answered without a token") from None
    register_secret(token)
    return token


def certificate_identity(der: bytes) -> tuple[str, str]:
    """(subject alternative name, OIDC issuer) of a Fulcio certificate."""
    cert = x509.load_der_x509_certificate(der)
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "", ""
    values = [
        *names.get_values_for_type(x509.UniformResourceIdentifier),
        *names.get_values_for_type(x509.RFC822Name),
    ]
    issuer = ""
    for oid in (ISSUER_V2, ISSUER_V1):
        try:
            raw = cert.extensions.get_extension_for_oid(oid).value
        except x509.ExtensionNotFound:
            continue
        data = raw.value if isinstance(raw, x509.UnrecognizedExtension) else b""
        issuer = _der_text(data) if oid == ISSUER_V2 else data.decode("utf-8", "replace")
        break
    return (str(values[0]) if values else ""), issuer


def _der_text(data: bytes) -> str:
    """The string inside a DER UTF8String (tag 0x0c, short or long length)."""
    if len(data) < 2 or data[0] != 0x0C:
        return data.decode("utf-8", "replace")
    length, start = data[1], 2
    if length & 0x80:
        count = length & 0x7F
        length, start = int.from_bytes(data[2 : 2 + count], "big"), 2 + count
    return data[start : start + length].decode("utf-8", "replace")


class SigstoreBackend:
    """Sigstore's public-good Fulcio, Rekor and trusted root, through the sigstore package."""

    def sign(self, payload: bytes, *, token: str) -> bytes:
        from sigstore.dsse import Statement
        from sigstore.models import ClientTrustConfig
        from sigstore.oidc import IdentityToken
        from sigstore.sign import SigningContext

        try:
            context = SigningContext.from_trust_config(ClientTrustConfig.production())
            with context.signer(IdentityToken(token)) as signer:
                bundle = signer.sign_dsse(Statement(payload))
        except Exception as exc:  # the library's own tree: report it in one line, no token
            raise OutsideError(
                f"keyless signing with Sigstore failed: {type(exc).__name__}: {excerpt(str(exc))}",
                hint="check the job's id-token: write permission and Sigstore's status",
            ) from None
        return bundle.to_json().encode()

    def verify(self, bundle: bytes) -> tuple[bytes, Keyless]:
        from sigstore.models import Bundle
        from sigstore.verify import Verifier, policy

        try:
            parsed = Bundle.from_json(bundle)
            _, payload = Verifier.production().verify_dsse(parsed, policy.UnsafeNoOp())
            der = parsed.signing_certificate.public_bytes(Encoding.DER)
        except Exception as exc:  # any failure of the chain, the log entry or the signature
            return b"", Keyless("", "", f"{type(exc).__name__}: {excerpt(str(exc))}")
        identity, issuer = certificate_identity(der)
        return payload, Keyless(identity, issuer)


def backend() -> KeylessBackend:
    """The backend keyless signing and verification use (tests replace it)."""
    return SigstoreBackend()
