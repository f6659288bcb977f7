"""`leptonci build MODEL`: train (or reuse), gate, build the image and push it by digest."""

from __future__ import annotations

from leptonci.core.actions import Step
from leptonci.core.errors import GateFailed
from leptonci.core.imageref import short_digest
from leptonci.core.plan import Plan
from leptonci.core.release import release_id
from leptonci.core.training_contract import candidate_label
from leptonci.pipeline.attest import attach_attestations, plan_attestations
from leptonci.pipeline.build import build_image, model_source, push_image, size_text
from leptonci.pipeline.gate import gate_candidate
from leptonci.pipeline.train import model_content_hash, planned_candidate, train_model
from leptonci.runtime.context import Context


def run(ctx: Context, *, model: str) -> int:
    """`leptonci build MODEL [--dry-run]`: train (or reuse), gate, build, push, print digest."""
    candidate = planned_candidate(ctx, model) if ctx.dry_run else train_model(ctx, model=model)
    if candidate is None:  # a dry run without the candidate in the cache
        label = candidate_label(model, model_content_hash(ctx, model))
        plan = Plan(f"build {model} image").then(
            Step(
                summary=f"train {label} (not in the cache): its gate and image digest are "
                "unknown until it is trained",
                name="train",
            )
        )
        ctx.out.result(plan.to_dict(), plan.render_text() + "dry run: nothing was written\n")
        return 0
    release = release_id(model, candidate.content_hash)
    against = ctx.config.first_env().name
    verdict = gate_candidate(ctx, candidate=candidate, against=against)
    if not verdict.passed:
        failed = ", ".join(c.metric for c in verdict.failed_checks) or "see the verdict"
        raise GateFailed(
            f"gate failed for {release} against {against} ({failed}); no image pushed",
            hint=f"run `leptonci gate {model}` for the checks",
        )
    source = model_source(ctx, model)
    build = build_image(ctx, candidate=candidate, release=release, verdict="passed", source=source)
    attestations = plan_attestations(
        ctx, build=build, candidate=candidate, verdict=verdict, gated_against=against, source=source
    )
    plan = build.plan.then(*attestations.actions)
    if attestations.note:
        plan = plan.with_note(attestations.note)
    if ctx.dry_run:
        ctx.out.result(plan.to_dict(), plan.render_text())
        return 0
    with ctx.out.step(f"push {build.destination.describe(build.spec.repository)}"):
        built = push_image(ctx, build)
    attested = attach_attestations(ctx, attestations, built)
    if attestations.actions:
        ctx.out.info(attested.describe())
    elif attestations.note:
        ctx.out.info(attestations.note)
    ctx.out.set_output("image", f"{built.image}@{built.digest}")
    ctx.out.set_output("digest", built.digest)
    ctx.out.set_output("release", release)
    ctx.out.summary(
        f"### Image {release}\n\n`{built.reference}` (tags {', '.join(built.tags)}, "
        f"{size_text(built.size)}, {size_text(max(0, built.bytes_sent))} sent)"
    )
    ctx.out.result(
        {
            "image": built.image,
            "digest": built.digest,
            "tags": list(built.tags),
            "size": built.size,
            "bytes_sent": built.bytes_sent,
            "release": release,
            "attestations": [a.to_dict() for a in attested.actions],
        },
        f"{built.reference} ({short_digest(built.digest)}; tags {', '.join(built.tags)})",
    )
    return 0
