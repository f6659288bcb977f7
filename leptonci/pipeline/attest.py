"""The verdict and provenance of a pushed image: planned with the build, attached after.

``plan_attestations`` turns what the gate decided and what the build is into two
``AttachAttestation`` actions (the statements exactly as they will be signed, so a dry
run prints them); with no signer configured it plans none and says why.
``attach_attestations`` applies them once the push has reported the digest: sign each
statement (a key, or keyless through Sigstore) and attach the bundle to the digest as a
referrer, where the image went (registry or ``oci-layout:``). An equal statement the
same signer already attached is not attached twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

from leptonci import __version__
from leptonci.adapters import keyless
from leptonci.adapters.git import SourceInfo
from leptonci.adapters.images.referrers import (
    CREATED,
    Artifact,
    Store,
    attach,
    list_referrers,
    read_artifact,
)
from leptonci.core.actions import AttachAttestation
from leptonci.core.attestation import (
    ANNOTATION_CONTENT,
    ANNOTATION_PREDICATE,
    BUNDLE_TYPE,
    LOCAL_BUILDER,
    PAYLOAD_TYPE,
    SLSA_PREDICATE,
    VERDICT_PREDICATE,
    Built,
    Evidence,
    Gated,
    canonical,
    key_bundle,
    parse_bundle,
    planned_found,
    provenance_predicate,
    verdict_predicate,
)
from leptonci.core.candidate import Candidate
from leptonci.core.errors import RegistryError
from leptonci.core.gate import Verdict
from leptonci.core.imageref import short_digest
from leptonci.core.signing import sign_envelope
from leptonci.pipeline.build import BuildPlan, BuiltImage
from leptonci.pipeline.gate import baseline_record
from leptonci.runtime.attestations import Signer, signer
from leptonci.runtime.context import Context
from leptonci.runtime.images import image_store


@dataclass(frozen=True)
class Attestations:
    actions: tuple[AttachAttestation, ...]
    signer: Signer
    note: str = ""  # why nothing is attested, when nothing is


def plan_attestations(
    ctx: Context,
    *,
    build: BuildPlan,
    candidate: Candidate,
    verdict: Verdict,
    gated_against: str,
    source: SourceInfo,
) -> Attestations:
    who = signer(ctx)
    spec = build.spec
    if who.kind == "none":
        return Attestations((), who, f"{spec.release}: not attested: {who.why}")
    image = build.destination.image(spec.repository)
    where = build.destination.describe(spec.repository)
    baseline = baseline_record(ctx, model=candidate.model, against=gated_against)
    thresholds = {
        metric: threshold.model_dump(exclude_none=True)
        for metric, threshold in ctx.config.model(candidate.model).gate.items()
    }
    gated = Gated(
        model=candidate.model,
        release=spec.release,
        content_hash=candidate.content_hash,
        eval_fingerprint=candidate.eval_fingerprint,
        metrics=candidate.metrics,
        verdict=verdict.to_dict(),
        thresholds=thresholds,
        gated_against=gated_against,
        baseline_release=verdict.baseline_release,
        baseline_digest=baseline.digest if baseline is not None else None,
        source_repository=source.url,
        source_commit=source.commit,
        run_url=ctx.run_url,
    )
    built = Built(
        builder_id=_builder_id(ctx),
        builder=build.builder,
        leptonci_version=__version__,
        model=candidate.model,
        release=spec.release,
        repository=where,
        tags=spec.tags,
        base=spec.base,
        source_repository=source.url,
        source_commit=source.commit,
        content_hash=candidate.content_hash,
        invocation_id=_invocation(ctx),
    )
    signed_by = who.describe()
    actions = tuple(
        AttachAttestation(
            summary=f"sign the {label} of {spec.release} ({signed_by}) and attach it to "
            f"{where}@{short_digest(build.digest) if build.digest else '<pushed digest>'}",
            image=image,
            destination=where,
            digest=build.digest,
            predicate_type=predicate_type,
            predicate=canonical(predicate).decode(),
            signer=signed_by,
        )
        for label, predicate_type, predicate in (
            ("gate verdict", VERDICT_PREDICATE, verdict_predicate(gated)),
            ("SLSA provenance", SLSA_PREDICATE, provenance_predicate(built)),
        )
    )
    return Attestations(actions, who)


def _builder_id(ctx: Context) -> str:
    workflow = ctx.env.get("GITHUB_WORKFLOW_REF")
    if workflow:
        server = ctx.env.get("GITHUB_SERVER_URL", "https://github.com").rstrip("/")
        return f"{server}/{workflow}"
    return LOCAL_BUILDER


def _invocation(ctx: Context) -> str:
    url = ctx.run_url
    attempt = ctx.env.get("GITHUB_RUN_ATTEMPT")
    return f"{url}/attempts/{attempt}" if url and attempt else url


def planned_evidence(attestations: Attestations, digest: str) -> Evidence:
    """A dry run's evidence for digest: the statements it would attach, unsigned."""
    found = tuple(
        planned_found(a.predicate_type, a.statement(digest), signer=attestations.signer.keyid)
        for a in attestations.actions
    )
    return Evidence(digest, found, planned=True)


@dataclass(frozen=True)
class Attached:
    actions: tuple[AttachAttestation, ...]  # as applied (with the digest)
    skipped: int  # equal statements already there
    seconds: float  # signing and attaching, wall time

    def describe(self) -> str:
        if not self.actions:
            return "nothing attested"
        kinds = ", ".join(a.predicate_type.rsplit("/", 2)[-2] for a in self.actions)
        again = f"; {self.skipped} already attached" if self.skipped else ""
        return (
            f"attested {len(self.actions)} statements ({kinds}) on "
            f"{short_digest(self.actions[0].digest)} in {self.seconds * 1000:.0f} ms{again}"
        )


def attach_attestations(ctx: Context, attestations: Attestations, built: BuiltImage) -> Attached:
    """Sign each planned statement about built.digest and attach it as a referrer."""
    start = time.perf_counter()
    if not attestations.actions:
        return Attached((), 0, 0.0)
    who = attestations.signer
    store = image_store(ctx, built.image)
    subject = store.resolve(built.digest)
    if subject is None or subject[0] != built.digest:
        raise RegistryError(f"{store.name} has no manifest {short_digest(built.digest)} to attest")
    present = _present_payloads(store, built.digest)
    token: str | None = None
    done: list[AttachAttestation] = []
    artifacts: list[Artifact] = []
    skipped = 0
    for action in attestations.actions:
        applied = replace(action, digest=built.digest)
        payload = canonical(applied.statement())
        if (payload, who.keyid) in present:
            skipped += 1
            done.append(applied)
            continue
        if who.key is not None:
            bundle = key_bundle(sign_envelope(PAYLOAD_TYPE, payload, who.key), keyid=who.keyid)
        else:
            token = token or keyless.oidc_token(ctx.env)
            bundle = keyless.backend().sign(payload, token=token)
        annotations = {
            ANNOTATION_CONTENT: "dsse-envelope",
            ANNOTATION_PREDICATE: action.predicate_type,
            CREATED: ctx.now(),
        }
        artifacts.append(Artifact(bundle, annotations))
        done.append(applied)
    attach(store, subject=subject, artifact_type=BUNDLE_TYPE, artifacts=artifacts)
    return Attached(tuple(done), skipped, time.perf_counter() - start)


def _present_payloads(store: Store, digest: str) -> set[tuple[bytes, str]]:
    """(payload, signer key id or "keyless") of the bundles already on digest."""
    out: set[tuple[bytes, str]] = set()
    for referrer in list_referrers(store, digest, artifact_type=BUNDLE_TYPE):
        artifact = read_artifact(store, referrer, subject=digest)
        if artifact is None:
            continue
        try:
            bundle = parse_bundle(artifact[0])
        except ValueError:
            continue
        signer_id = "keyless" if bundle.certificate is not None else bundle.hint
        out.add((bundle.envelope.payload, signer_id))
    return out
