"""Who signs, whom an environment trusts, and what a digest carries: read, not judged.

Signing (``signer``), from the environment:

* ``LEPTONCI_SIGNING``: ``auto`` (the default), ``key``, ``keyless`` or ``off``. ``auto``
  signs with a key when one is set, else keyless when the job can get an OIDC token
  (GitHub Actions with ``id-token: write``), else not at all.
* ``LEPTONCI_SIGNING_KEY`` (the PEM text) or ``LEPTONCI_SIGNING_KEY_FILE`` (a path, relative
  to the repository root or absolute): an ECDSA P-256 private key, PKCS#8 or cosign's
  encrypted format, whose password is ``LEPTONCI_SIGNING_PASSWORD`` (or ``COSIGN_PASSWORD``).

The key text and the password are registered for redaction before they are parsed.

Trust (``trust_for``) comes from an environment's ``require:`` block; its ``keys`` are
PEM public keys, in files in the repository or written inline. ``read_evidence`` reads
every attestation referring to a digest from the image's store (keyless bundles are
verified through the sigstore adapter on the way); the pure ``judge`` decides.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from leptonci.adapters import keyless
from leptonci.adapters.images.referrers import list_referrers, read_artifact
from leptonci.core.attestation import (
    ANNOTATION_PREDICATE,
    BUNDLE_TYPE,
    Evidence,
    Found,
    Keyless,
    Trust,
    parse_bundle,
)
from leptonci.core.config import RequireConfig
from leptonci.core.errors import ConfigError, OutsideError
from leptonci.core.files import read_text
from leptonci.core.redact import register_secret, register_secrets
from leptonci.core.signing import (
    PublicKey,
    SigningKey,
    load_public_key,
    load_signing_key,
    pem_secret_parts,
)
from leptonci.runtime.context import Context
from leptonci.runtime.images import image_store

MODES = ("auto", "key", "keyless", "off")


@dataclass(frozen=True)
class Signer:
    """How attestations get signed in this run (never the key material in text)."""

    kind: str  # "key" | "keyless" | "none"
    key: SigningKey | None = None
    why: str = ""  # kind "none": why nothing signs

    @property
    def keyid(self) -> str:
        if self.key is not None:
            return self.key.public.keyid
        return "keyless" if self.kind == "keyless" else ""

    def describe(self) -> str:
        if self.key is not None:
            return f"key {self.key.public.keyid[:19]}"
        if self.kind == "keyless":
            return "keyless (the workflow's OIDC identity, Sigstore)"
        return "unsigned"


def signer(ctx: Context) -> Signer:
    env = ctx.env
    mode = env.get("LEPTONCI_SIGNING", "auto").strip() or "auto"
    if mode not in MODES:
        raise ConfigError(f"LEPTONCI_SIGNING={mode!r} is not one of {', '.join(MODES)}")
    if mode == "off":
        return Signer("none", why="LEPTONCI_SIGNING=off")
    text, name = _key_text(ctx)
    if text is not None and mode in ("auto", "key"):
        password = env.get("LEPTONCI_SIGNING_PASSWORD") or env.get("COSIGN_PASSWORD")
        register_secrets([*pem_secret_parts(text), password])
        return Signer("key", load_signing_key(text, password=password, name=name))
    if mode == "key":
        raise ConfigError(
            "LEPTONCI_SIGNING=key but no key is set",
            hint="set LEPTONCI_SIGNING_KEY (PEM text) or LEPTONCI_SIGNING_KEY_FILE (a path)",
        )
    if mode == "keyless" or keyless.can_sign(env):
        register_secret(env.get("ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
        return Signer("keyless")
    return Signer(
        "none",
        why="no signing key (LEPTONCI_SIGNING_KEY or LEPTONCI_SIGNING_KEY_FILE) and no OIDC "
        "token (GitHub Actions with id-token: write)",
    )


def _key_text(ctx: Context) -> tuple[str | None, str]:
    inline = ctx.env.get("LEPTONCI_SIGNING_KEY")
    if inline:
        return inline, "LEPTONCI_SIGNING_KEY"
    path = ctx.env.get("LEPTONCI_SIGNING_KEY_FILE")
    if not path:
        return None, ""
    file = Path(path).expanduser()
    file = file if file.is_absolute() else ctx.root / file
    try:
        return read_text(file), f"LEPTONCI_SIGNING_KEY_FILE {path}"
    except OSError as exc:
        raise ConfigError(
            f"LEPTONCI_SIGNING_KEY_FILE {path}: cannot be read ({exc.strerror or type(exc).__name__})"
        ) from None


def trust_for(ctx: Context, require: RequireConfig, *, where: str) -> Trust:
    """The keys and keyless identity an environment's ``require:`` trusts."""
    keys: list[PublicKey] = []
    names: list[str] = []
    for i, entry in enumerate(require.keys):
        if entry.lstrip().startswith("-----BEGIN"):
            name = f"{where}.keys[{i}]"
            text = entry
        else:
            name = entry
            try:
                # a relative path names a file in the repository, and must stay in it
                inside = None if Path(entry).is_absolute() else ctx.root
                text = read_text(ctx.root / entry, root=inside)
            except OSError:
                raise ConfigError(
                    f"{where}.keys[{i}]: public key file {entry} cannot be read",
                    hint="commit the signer's cosign.pub at that path",
                ) from None
        keys.append(load_public_key(text, name=name))
        names.append(name)
    return Trust(
        kinds=require.kinds,
        keys=tuple(keys),
        identity=require.identity,
        issuer=require.issuer,
        names=tuple(names),
    )


def read_evidence(ctx: Context, image: str, digest: str) -> Evidence:
    """Every Sigstore bundle referring to image@digest; a read failure is evidence too."""
    try:
        store = image_store(ctx, image)
        found: list[Found] = []
        for referrer in list_referrers(store, digest, artifact_type=BUNDLE_TYPE):
            artifact = read_artifact(store, referrer, subject=digest)
            if artifact is None:
                continue
            blob, annotations = artifact
            predicate_type = annotations.get(ANNOTATION_PREDICATE) or referrer.annotations.get(
                ANNOTATION_PREDICATE, ""
            )
            found.append(Found(predicate_type, blob, _keyless(blob)))
    except (OutsideError, ConfigError) as exc:
        return Evidence(digest, error=exc.message)
    return Evidence(digest, tuple(found))


def _keyless(blob: bytes) -> Keyless | None:
    try:
        bundle = parse_bundle(blob)
    except ValueError:
        return None
    if bundle.certificate is None:
        return None
    _, who = keyless.backend().verify(blob)
    return who
