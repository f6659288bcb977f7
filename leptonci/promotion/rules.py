"""The promotion rules: may this release enter this environment, and which release is it?"""

from __future__ import annotations

from leptonci.core.attestation import judge
from leptonci.core.errors import PromotionRefused, UsageError
from leptonci.core.imageref import short_digest
from leptonci.core.ledger import ReleaseRecord
from leptonci.promotion.state import Attested, EnvState


def check_entry(target: EnvState, record: ReleaseRecord, *, automatic: bool, force: bool) -> None:
    """Refuse record's entry into target when quarantined or held."""
    env = target.name
    if target.ledger.is_quarantined(record.digest):
        raise PromotionRefused(
            f"{record.release} ({short_digest(record.digest)}) is quarantined in {env}",
            hint=f"lift it with `leptonci unblock {env} {record.digest}`",
        )
    if target.ledger.held and (automatic or not force):
        why = target.ledger.holds[-1].reason
        how = "" if automatic else " (or promote with --force --reason TEXT)"
        raise PromotionRefused(
            f"{env} is on hold ({why}); automatic promotion stopped",
            hint=f"lift the hold with `leptonci resume {env}`{how}",
        )


def select_release(
    target: EnvState,
    upstream: EnvState,
    *,
    model: str | None,
    release: str | None,
    force: bool,
) -> ReleaseRecord:
    """The upstream record to promote; it must be current and verified upstream."""
    up = upstream.name
    if release is not None:
        record = upstream.ledger.find(release)
        if record is None:
            raise PromotionRefused(
                f"release {release} was never in {up}, {target.name}'s upstream",
                hint=f"promote it into {up} first",
            )
    else:
        if model is None:
            raise UsageError("name a model or a release to promote")
        found = upstream.ledger.current_for(model)
        if found is None:
            raise PromotionRefused(
                f"{up} has no release of {model} to promote into {target.name}",
                hint=f"promote one into {up} first",
            )
        record = found
    current_up = upstream.ledger.current_for(record.model)
    if not force:
        if current_up is None or current_up.release != record.release:
            raise PromotionRefused(
                f"{record.release} is not current in {up} (current: "
                f"{current_up.release if current_up else 'none'})",
                hint="promote the current one, or use --force --reason TEXT",
            )
        if not record.verification.verified:
            raise PromotionRefused(
                f"{record.release} is not verified in {up} "
                f"(verification: {record.verification.result})",
                hint=f"run `leptonci verify {up}`, or use --force --reason TEXT",
            )
    return record


def check_attestation(target: EnvState, record: ReleaseRecord, attested: Attested | None) -> None:
    """Refuse record's digest in an environment that requires attestations it lacks.

    Fail closed: an environment with ``require:`` whose trust or evidence was not read
    refuses too. ``--force`` does not lift it.
    """
    if target.env.require is None:
        return
    env, digest = target.name, record.digest
    head = f"{record.release} ({digest}) may not enter {env}"
    trust = attested.trust.get(env) if attested is not None else None
    if attested is None or trust is None:
        raise PromotionRefused(f"{head}: its attestations were not checked")
    judgement = judge(
        attested.evidence(record.image, digest),
        trust=trust,
        model=record.model,
        release=record.release,
    )
    if not judgement.ok:
        raise PromotionRefused(
            f"{head}: {judgement.problem}",
            hint=f"check it with `leptonci verify-image {record.image}@{digest} --env {env}`",
        )


def stale_promotion(
    release: str,
    *,
    target: EnvState,
    upstream: EnvState,
    record: ReleaseRecord | None = None,
) -> str | None:
    """Why a promotion of release into target, opened (or merged) earlier, may no longer
    land; None when it still may.

    The promotion is judged against the upstream and target as they are now (for a merged
    one: as they were just before the merge): the release must still be current and
    verified upstream (unless it was forced), quarantined in neither, and target not on
    hold (unless forced). ``record``: the release as the promotion recorded it (None:
    judged as a plain promotion).
    """
    if record is not None and record.action == "rollback":
        return None
    forced = record is not None and record.action == "force"
    known = record or upstream.ledger.find(release)
    for state in (upstream, target):
        if known is not None and state.ledger.is_quarantined(known.digest):
            return f"{release} ({short_digest(known.digest)}) is quarantined in {state.name}"
    try:
        found = select_release(target, upstream, model=None, release=release, force=forced)
        check_entry(target, record or found, automatic=False, force=forced)
    except PromotionRefused as exc:
        return exc.message
    return None
