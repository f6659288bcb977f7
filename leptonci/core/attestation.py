"""Attestations: the in-toto statements leptonci signs, the bundles that carry them,
and the judgement of what a registry holds for a digest. Pure: no I/O, no clock.

Two statements (in-toto Statement v1) are made for an image digest after its gate
passed and it was pushed:

* the verdict, predicate type ``VERDICT_PREDICATE`` (schema: docs/schemas/verdict-v1.json):
  model, release, content hash, eval fingerprint, metrics, every check with its numbers,
  the thresholds, the baseline release and digest, source repository and commit, the CI
  run;
* SLSA provenance v1 (``SLSA_PREDICATE``): builder id, build type, the parameters and
  the source commit it was built from.

Each is a DSSE envelope (payload type ``application/vnd.in-toto+json``) inside a Sigstore
bundle (v0.3 JSON), the layer of an OCI artifact manifest whose ``subject`` is the image
(``leptonci/adapters/images/referrers.py`` stores it). A bundle signed with a key names
it in ``verificationMaterial.publicKey.hint``; a keyless one carries its certificate.

``judge`` decides whether what was found on a digest satisfies an environment's
``require:``; its messages are one line each, naming the digest and what is wrong.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from leptonci.core.imageref import short_digest
from leptonci.core.signing import Envelope, PublicKey, check_envelope

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
VERDICT_PREDICATE = "https://leptonci.dev/attestations/verdict/v1"
SLSA_PREDICATE = "https://slsa.dev/provenance/v1"
BUILD_TYPE = "https://leptonci.dev/attestations/build/v1"
LOCAL_BUILDER = "https://leptonci.dev/builders/local"
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
ANNOTATION_CONTENT = "dev.sigstore.bundle.content"
ANNOTATION_PREDICATE = "dev.sigstore.bundle.predicateType"
KINDS = {"verdict": VERDICT_PREDICATE, "provenance": SLSA_PREDICATE}
KIND_OF = {v: k for k, v in KINDS.items()}
GITHUB_ISSUER = "https://token.actions.githubusercontent.com"


def canonical(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# -- statements ------------------------------------------------------------------------


def statement(
    *, name: str, digest: str, predicate_type: str, predicate: Mapping[str, Any]
) -> dict[str, Any]:
    algo, _, hexpart = digest.partition(":")
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": name, "digest": {algo: hexpart}}],
        "predicateType": predicate_type,
        "predicate": dict(predicate),
    }


@dataclass(frozen=True)
class Gated:
    """What the gate decided on, as the verdict predicate records it."""

    model: str
    release: str
    content_hash: str
    eval_fingerprint: str
    metrics: Mapping[str, float]
    verdict: Mapping[str, Any]  # Verdict.to_dict()
    thresholds: Mapping[str, Any]  # metric -> Threshold as JSON
    gated_against: str
    baseline_release: str | None
    baseline_digest: str | None
    source_repository: str
    source_commit: str
    run_url: str = ""


def verdict_predicate(gated: Gated) -> dict[str, Any]:
    verdict = dict(gated.verdict)
    return {
        "model": gated.model,
        "release": gated.release,
        "contentHash": gated.content_hash,
        "evalFingerprint": gated.eval_fingerprint,
        "metrics": {k: float(v) for k, v in sorted(gated.metrics.items())},
        "verdict": {
            "passed": bool(verdict.get("passed")),
            "checks": list(verdict.get("checks") or []),
            "notes": list(verdict.get("notes") or []),
        },
        "thresholds": {k: gated.thresholds[k] for k in sorted(gated.thresholds)},
        "baseline": {
            "environment": gated.gated_against,
            "release": gated.baseline_release,
            "digest": gated.baseline_digest,
        },
        "source": {"repository": gated.source_repository, "commit": gated.source_commit},
        "ci": {"runUrl": gated.run_url or None},
    }


@dataclass(frozen=True)
class Built:
    """What SLSA provenance says about one build."""

    builder_id: str
    builder: str  # "daemonless" | "docker"
    leptonci_version: str
    model: str
    release: str
    repository: str  # where the image went
    tags: tuple[str, ...]
    base: str
    source_repository: str
    source_commit: str
    content_hash: str
    invocation_id: str = ""
    started_on: str = ""
    finished_on: str = ""


def provenance_predicate(built: Built) -> dict[str, Any]:
    source: dict[str, Any] = {"uri": built.source_repository or "unknown"}
    if built.source_commit:
        source["digest"] = {"gitCommit": built.source_commit}
    algo, _, hexpart = built.content_hash.partition(":")
    metadata = {
        "invocationId": built.invocation_id or None,
        "startedOn": built.started_on or None,
        "finishedOn": built.finished_on or None,
    }
    return {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "model": built.model,
                "release": built.release,
                "repository": built.repository,
                "tags": list(built.tags),
                "base": built.base,
            },
            "internalParameters": {"builder": built.builder},
            "resolvedDependencies": [
                source,
                {"name": f"model:{built.model}", "digest": {algo: hexpart}},
            ],
        },
        "runDetails": {
            "builder": {"id": built.builder_id, "version": {"leptonci": built.leptonci_version}},
            "metadata": {k: v for k, v in metadata.items() if v},
        },
    }


# -- bundles ---------------------------------------------------------------------------


def key_bundle(envelope: Envelope, *, keyid: str) -> bytes:
    """A Sigstore bundle (v0.3) for an envelope signed with a key (no transparency log)."""
    return canonical(
        {
            "mediaType": BUNDLE_TYPE,
            "verificationMaterial": {"publicKey": {"hint": keyid}, "tlogEntries": []},
            "dsseEnvelope": envelope.to_json(),
        }
    )


@dataclass(frozen=True)
class Bundle:
    envelope: Envelope
    hint: str = ""  # the key id a key-signed bundle names
    certificate: bytes | None = None  # DER: a keyless bundle's signing certificate


def parse_bundle(data: bytes) -> Bundle:
    """A Sigstore bundle's envelope and verification material (ValueError if malformed)."""
    try:
        doc = json.loads(data)
    except ValueError:
        raise ValueError("the bundle is not JSON") from None
    if not isinstance(doc, dict) or "dsseEnvelope" not in doc:
        raise ValueError("the bundle holds no DSSE envelope")
    envelope = Envelope.from_json(doc["dsseEnvelope"])
    material = doc.get("verificationMaterial") or {}
    hint = str((material.get("publicKey") or {}).get("hint") or "")
    raw = (material.get("certificate") or {}).get("rawBytes")
    if raw is None:
        chain = (material.get("x509CertificateChain") or {}).get("certificates") or []
        raw = chain[0].get("rawBytes") if chain else None
    cert = base64.b64decode(raw) if raw else None
    return Bundle(envelope, hint, cert)


# -- what was found on a digest, and the judgement -------------------------------------


@dataclass(frozen=True)
class Keyless:
    """A keyless bundle as the sigstore adapter verified it (chain, log, signature)."""

    identity: str  # the certificate's subject alternative name
    issuer: str  # the OIDC issuer in the certificate
    problem: str = ""  # why it did not verify ("" when it did)


@dataclass(frozen=True)
class Found:
    """One attestation referring to the digest, read back from where it is stored."""

    predicate_type: str
    bundle: bytes
    keyless: Keyless | None = None
    planned_keyid: str = ""  # a dry run: the key (or "keyless") that would sign it


@dataclass(frozen=True)
class Evidence:
    """Everything found on one digest (or why it could not be read)."""

    digest: str
    found: tuple[Found, ...] = ()
    error: str = ""  # the store could not be read: refuse, naming it
    planned: bool = False  # a dry run: the statements planned, not yet signed


@dataclass(frozen=True)
class Trust:
    """Whom an environment trusts: public keys, or a keyless identity and issuer."""

    kinds: tuple[str, ...]  # "verdict", "provenance"
    keys: tuple[PublicKey, ...] = ()
    identity: str | None = None
    issuer: str = GITHUB_ISSUER
    names: tuple[str, ...] = field(default=())  # where the keys came from, for messages


@dataclass(frozen=True)
class Judgement:
    ok: bool
    lines: tuple[str, ...]  # one per required kind: "verdict: ok (...)" or the problem
    problem: str = ""  # the first problem, one line


def judge(
    evidence: Evidence, *, trust: Trust, model: str | None = None, release: str | None = None
) -> Judgement:
    """Whether evidence holds, for every kind trust requires, one attestation that is
    signed by a trusted signer, is about this digest (and release), and, for the
    verdict, passed."""
    digest = short_digest(evidence.digest)
    if evidence.error:
        problem = f"{digest}: attestations could not be read: {evidence.error}"
        return Judgement(False, (problem,), problem)
    lines: list[str] = []
    problems: list[str] = []
    for kind in trust.kinds:
        predicate_type = KINDS[kind]
        candidates = [f for f in evidence.found if f.predicate_type == predicate_type]
        if not candidates:
            problem = f"{digest} has no {kind} attestation (no referrer of type {predicate_type})"
            lines.append(problem)
            problems.append(problem)
            continue
        results = [_one(f, evidence.digest, kind, trust, model, release) for f in candidates]
        good = [r for r in results if r.startswith("ok")]
        if good:
            lines.append(f"{kind}: {good[0]}")
        else:
            problem = f"{kind} attestation on {digest}: {results[0]}"
            lines.append(problem)
            problems.append(problem)
    return Judgement(not problems, tuple(lines), problems[0] if problems else "")


def _one(
    found: Found,
    digest: str,
    kind: str,
    trust: Trust,
    model: str | None,
    release: str | None,
) -> str:
    try:
        bundle = parse_bundle(found.bundle)
    except ValueError as exc:
        return f"unreadable bundle ({exc})"
    signer = _signer(found, bundle, trust)
    if not signer.startswith("ok"):
        return signer
    envelope = bundle.envelope
    if envelope.payload_type != PAYLOAD_TYPE:
        return f"payload type {envelope.payload_type!r} is not {PAYLOAD_TYPE}"
    try:
        doc = json.loads(envelope.payload)
    except ValueError:
        return "the signed payload is not JSON"
    if not isinstance(doc, dict) or doc.get("_type") != STATEMENT_TYPE:
        return "the signed payload is not an in-toto Statement v1"
    if doc.get("predicateType") != KINDS[kind]:
        return f"the statement's predicate type is {doc.get('predicateType')!r}, not {KINDS[kind]}"
    algo, _, hexpart = digest.partition(":")
    subjects = [
        s.get("digest", {}).get(algo) for s in doc.get("subject") or [] if isinstance(s, dict)
    ]
    if hexpart not in subjects:
        other = next((s for s in subjects if s), None)
        return f"made for {short_digest(f'{algo}:{other}') if other else 'no digest'}, not {short_digest(digest)}"
    predicate = doc.get("predicate")
    if not isinstance(predicate, dict):
        return "the statement has no predicate"
    if kind == "verdict":
        if release is not None and predicate.get("release") != release:
            return f"made for release {predicate.get('release')}, not {release}"
        if model is not None and predicate.get("model") != model:
            return f"made for model {predicate.get('model')}, not {model}"
        if (predicate.get("verdict") or {}).get("passed") is not True:
            failed = [
                str(c.get("metric"))
                for c in (predicate.get("verdict") or {}).get("checks") or []
                if isinstance(c, dict) and c.get("status") == "fail"
            ]
            why = f" (failed: {', '.join(failed)})" if failed else ""
            return f"the verdict did not pass{why}"
    if kind == "provenance":
        builder = ((predicate.get("runDetails") or {}).get("builder") or {}).get("id")
        if not builder:
            return "the provenance names no builder"
    return signer


def _signer(found: Found, bundle: Bundle, trust: Trust) -> str:
    """ "ok (signed by ...)" or why the signature is not trusted."""
    if found.planned_keyid:
        return _planned_signer(found.planned_keyid, trust)
    if bundle.certificate is not None or found.keyless is not None:
        if trust.identity is None:
            return "signed keyless, but the environment trusts keys only"
        if found.keyless is None:
            return "a keyless bundle that was not verified"
        if found.keyless.problem:
            return f"its keyless signature does not verify: {found.keyless.problem}"
        if found.keyless.identity != trust.identity or found.keyless.issuer != trust.issuer:
            return (
                f"signed by {found.keyless.identity} ({found.keyless.issuer}), "
                f"not the trusted {trust.identity}"
            )
        return f"ok (keyless, {found.keyless.identity})"
    if not trust.keys:
        return "signed with a key, but the environment trusts a keyless identity only"
    check = check_envelope(bundle.envelope, trust.keys)
    if check.problem == "bad-signature":
        return "its signature does not match its content (changed after signing?)"
    if check.problem == "untrusted-key":
        named = ", ".join(short_digest(k) for k in check.signed_by if k) or "no key id"
        trusted = ", ".join(short_digest(k.keyid) for k in trust.keys)
        return f"signed by key {named}, not a trusted key ({trusted})"
    if check.problem:
        return "it is not signed"
    return f"ok (key {short_digest(check.keyid)})"


def _planned_signer(keyid: str, trust: Trust) -> str:
    if keyid == "keyless":
        if trust.identity is None:
            return "would be signed keyless, but the environment trusts keys only"
        return f"ok (to be signed keyless, as {trust.identity})"
    if keyid not in {k.keyid for k in trust.keys}:
        trusted = ", ".join(short_digest(k.keyid) for k in trust.keys) or "none"
        return f"would be signed by key {short_digest(keyid)}, not a trusted key ({trusted})"
    return f"ok (to be signed by key {short_digest(keyid)})"


def planned_found(predicate_type: str, stmt: Mapping[str, Any], *, signer: str) -> Found:
    """A dry run's stand-in for an attestation it plans to attach: unsigned, judged on
    its statement and on whether its signer would be trusted."""
    envelope = Envelope(PAYLOAD_TYPE, canonical(stmt), ())
    return Found(predicate_type, key_bundle(envelope, keyid=signer), planned_keyid=signer)


def kinds_of(value: str | Sequence[str]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else tuple(value)
