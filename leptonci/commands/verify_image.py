"""`leptonci verify-image REF`: check the attestations a digest carries, by hand.

REF is ``HOST/PATH@DIGEST`` or ``HOST/PATH:TAG`` (a tag is resolved to its digest
first), or, for the ``oci-layout:`` destination, ``REPO@DIGEST`` / ``REPO:TAG``. Whom to
trust: ``--env ENV`` (that environment's ``require:``), or ``--key FILE`` (repeatable),
or ``--identity`` and ``--issuer`` for a keyless signer. ``--type`` picks what must be
there (verdict and/or provenance; default: what --env requires, else both). Exit 1 with
one line naming the digest when something required is missing or wrong.
"""

from __future__ import annotations

import time
from pathlib import Path

from leptonci.core.attestation import GITHUB_ISSUER, KIND_OF, Trust, judge, parse_bundle
from leptonci.core.config import RequireConfig
from leptonci.core.errors import ConfigError, UsageError, VerificationFailed
from leptonci.core.imageref import ImageRef, is_digest, short_digest
from leptonci.runtime.attestations import read_evidence, trust_for
from leptonci.runtime.context import Context
from leptonci.runtime.images import image_store


def run(
    ctx: Context,
    *,
    ref: str,
    env: str | None,
    keys: list[str],
    identity: str | None,
    issuer: str | None,
    types: list[str],
) -> int:
    trust = _trust(ctx, env=env, keys=keys, identity=identity, issuer=issuer, types=types)
    image, digest = _resolve(ctx, ref)
    started = time.perf_counter()
    evidence = read_evidence(ctx, image, digest)
    judgement = judge(evidence, trust=trust)
    took = time.perf_counter() - started
    found: list[dict[str, str]] = []
    for item in evidence.found:
        try:
            bundle = parse_bundle(item.bundle)
            signer = "keyless" if bundle.certificate is not None else bundle.hint
        except ValueError:
            signer = "unreadable"
        found.append({"predicate_type": item.predicate_type, "signer": signer})
    lines = [f"{image}@{digest}"]
    for entry in found:
        kind = KIND_OF.get(entry["predicate_type"], entry["predicate_type"] or "unknown type")
        who = entry["signer"]
        lines.append(f"  found: {kind}, signed by {short_digest(who) if ':' in who else who}")
    lines += [f"  {line}" for line in judgement.lines]
    lines.append(f"  checked in {took * 1000:.0f} ms: {'ok' if judgement.ok else 'REFUSED'}")
    data = {
        "image": image,
        "digest": digest,
        "ok": judgement.ok,
        "checks": list(judgement.lines),
        "attestations": found,
        "seconds": round(took, 4),
    }
    ctx.out.result(data, "\n".join(lines) + "\n")
    if not judgement.ok:
        raise VerificationFailed(judgement.problem)
    return 0


def _trust(
    ctx: Context,
    *,
    env: str | None,
    keys: list[str],
    identity: str | None,
    issuer: str | None,
    types: list[str],
) -> Trust:
    if env is not None:
        require = ctx.config.env(env).require
        if require is None:
            raise UsageError(
                f"environment {env} has no require: block", hint="pass --key FILE instead"
            )
        if keys or identity:
            raise UsageError("give --env or --key/--identity, not both")
    elif keys or identity:
        try:
            require = RequireConfig(
                attestation=list(types) if types else ["verdict", "provenance"],  # type: ignore[arg-type]
                keys=[str(Path(k).expanduser().resolve()) for k in keys],
                identity=identity,
                issuer=issuer or GITHUB_ISSUER,
            )
        except ValueError as exc:
            raise UsageError(f"--type: {exc}") from None
    else:
        raise UsageError(
            "whom to trust? give --env ENV, --key FILE, or --identity ID",
            hint="--key takes a PEM public key such as cosign.pub",
        )
    trust = trust_for(ctx, require, where=f"environments.{env}.require" if env else "--key")
    if types and env is not None:
        trust = Trust(tuple(types), trust.keys, trust.identity, trust.issuer, trust.names)
    return trust


def _resolve(ctx: Context, ref: str) -> tuple[str, str]:
    parsed = ImageRef.parse(ref)
    image = parsed.name
    if parsed.digest is not None:
        return image, parsed.digest
    tag = parsed.tag or "latest"
    store = image_store(ctx, image)
    found = store.resolve(tag)
    if found is None or not is_digest(found[0]):
        raise ConfigError(f"{image}:{tag} not found in {store.name}")
    return image, found[0]
