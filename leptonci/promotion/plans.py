"""The promotion planners: environment state in, a ``Change`` (file writes + commit) out.

Given what an environment's folder holds (manifests and ledger), its upstream's ledger
and a request (promote, enter a new build, roll back, verify, unblock, resume), each
planner decides: refuse (``PromotionRefused``), do nothing (already current), or the
file writes and the commit that make it so; a plan whose manifests would not run the
release it records stops (``pinning``). No clock, no git, no network: the engine
passes the time and the actor in and applies what comes out.
"""

from __future__ import annotations

from dataclasses import replace

from leptonci.core.actions import Action, GitCommit, WriteFile
from leptonci.core.config import Config
from leptonci.core.errors import PromotionRefused, UsageError
from leptonci.core.ledger import (
    Hold,
    Ledger,
    Quarantine,
    ReleaseRecord,
    Verification,
    render_ledger,
)
from leptonci.core.trailers import Trailers, record_trailers, simple_trailers, verification_trailers
from leptonci.manifests import edit_folder, pins
from leptonci.promotion.pinning import image_target, unpinned
from leptonci.promotion.rules import check_attestation, check_entry, select_release
from leptonci.promotion.state import Attested, Change, EnvState, initial_verification


def plan_promotion(
    config: Config,
    *,
    target: EnvState,
    upstream: EnvState,
    model: str | None = None,
    release: str | None = None,
    force: bool = False,
    reason: str = "",
    automatic: bool = False,
    actor: str,
    at: str,
    attested: Attested | None = None,
) -> Change:
    """Move a release current (and verified) in upstream into target."""
    if force and not reason.strip():
        raise UsageError("--force needs --reason TEXT: the reason goes into the ledger")
    record = select_release(target, upstream, model=model, release=release, force=force)
    return _enter(
        config,
        target,
        record,
        action="force" if force else "promote",
        from_env=upstream.name,
        reason=reason.strip(),
        automatic=automatic,
        force=force,
        actor=actor,
        at=at,
        attested=attested,
    )


def plan_entry(
    config: Config,
    *,
    target: EnvState,
    record: ReleaseRecord,
    actor: str,
    at: str,
    attested: Attested | None = None,
) -> Change:
    """A freshly built release entering the first environment (the push-to-main flow)."""
    return _enter(
        config,
        target,
        record,
        action="promote",
        from_env=None,
        reason="",
        automatic=True,
        force=False,
        actor=actor,
        at=at,
        attested=attested,
    )


def _enter(
    config: Config,
    target: EnvState,
    record: ReleaseRecord,
    *,
    action: str,
    from_env: str | None,
    reason: str,
    automatic: bool,
    force: bool,
    actor: str,
    at: str,
    attested: Attested | None,
) -> Change:
    env = target.name
    current = target.ledger.current_for(record.model)
    before = current.release if current else None
    if (
        current is not None
        and current.digest == record.digest
        and current.release == record.release
    ):
        image = image_target(config, record, previous=_pinned_before(target.ledger, record.model))
        if not pins(target.files, image):  # a no-op must confirm what the ledger says
            raise unpinned(target, image, record, recorded=True)
        return Change(
            env,
            record.model,
            before,
            before,
            (),
            target,
            f"{record.release} is already current in {env}",
        )
    check_entry(target, record, automatic=automatic, force=force)
    check_attestation(target, record, attested)
    new = replace(
        record,
        from_env=from_env,
        at=at,
        by=actor,
        action=action,
        reason=reason,
        verification=initial_verification(target.env, at),
    )
    ledger = target.ledger.with_release(new)
    verb = "force-promote" if action == "force" else "promote"
    subject = f"{verb} {new.release} into {env}" + (f" from {from_env}" if from_env else "")
    return _commit(
        config,
        target,
        new,
        ledger,
        subject=subject,
        trailers=record_trailers(action, env, new),
        before=before,
    )


def plan_rollback(
    config: Config,
    *,
    target: EnvState,
    model: str | None,
    to: str | None,
    reason: str,
    actor: str,
    at: str,
    attested: Attested | None = None,
) -> Change:
    """Restore the previous (or named) release: a new commit, quarantine, hold.

    A release named with ``to`` must carry what the environment requires; restoring
    the previous one does not ask (it entered under the same rules, and a rollback
    must not wait on a registry)."""
    env = target.name
    ledger = target.ledger
    wanted: ReleaseRecord | None = None
    if to is not None:
        wanted = ledger.find(to)
        if wanted is None:
            known = ", ".join(r.release for r in ledger.history) or "none"
            raise PromotionRefused(
                f"release {to} was never in {env}", hint=f"earlier releases: {known}"
            )
        if model is not None and wanted.model != model:
            raise UsageError(f"release {to} is a release of {wanted.model}, not {model}")
        model = wanted.model
    if model is None:
        raise UsageError("name the model to roll back")
    bad = ledger.current_for(model)
    if bad is None:
        raise PromotionRefused(f"{env} has no release of {model} to roll back")
    previous = wanted if wanted is not None else ledger.previous_for(model)
    if previous is None:
        raise PromotionRefused(
            f"{env} has no earlier release of {model} to roll back to",
            hint="promote a fixed release instead",
        )
    if wanted is not None:
        if previous.digest == bad.digest:
            raise PromotionRefused(f"{to} is what {env} runs now; nothing to roll back")
        if ledger.is_quarantined(previous.digest):
            raise PromotionRefused(
                f"{to} is quarantined in {env}",
                hint=f"lift it with `leptonci unblock {env} {previous.digest}` first",
            )
        check_attestation(target, previous, attested)
    why = reason.strip() or "rolled back"
    restored = replace(
        previous,
        at=at,
        by=actor,
        action="rollback",
        reason=why,
        from_env=None,
        verification=initial_verification(target.env, at),
    )
    new_ledger = (
        ledger.with_release(restored)
        .with_quarantine(
            Quarantine(digest=bad.digest, release=bad.release, reason=why, at=at, by=actor)
        )
        .with_hold(Hold(reason=f"rollback of {bad.release}: {why}", at=at, by=actor))
    )
    trailers = (
        *record_trailers("rollback", env, restored),
        ("Leptonci-Rolled-Back", bad.release),
        ("Leptonci-Quarantine", bad.digest),
    )
    return _commit(
        config,
        target,
        restored,
        new_ledger,
        subject=f"roll back {env} from {bad.release} to {restored.release}",
        trailers=trailers,
        before=bad.release,
    )


def plan_verification(target: EnvState, *, model: str, verification: Verification) -> Change:
    """Record a verification result of model's current release in the ledger."""
    record = target.ledger.current_for(model)
    env = target.name
    if record is None:
        raise PromotionRefused(f"{env} has no release of {model} to verify")
    if record.verification == verification:
        return Change(
            env, model, record.release, record.release, (), target, "verification already recorded"
        )
    ledger = target.ledger.with_verification(model, verification)
    return _ledger_commit(
        target,
        ledger,
        model=model,
        before=record.release,
        subject=f"verify {record.release} in {env}: {verification.result}",
        trailers=verification_trailers(env, record, verification),
    )


def plan_unblock(target: EnvState, *, what: str, actor: str, at: str) -> Change:
    env = target.name
    ledger = target.ledger.without_quarantine(what)
    if ledger.quarantine == target.ledger.quarantine:
        # already in the wanted state: a no-op, like resume without a hold
        listed = ", ".join(f"{q.release} ({q.digest})" for q in target.ledger.quarantine) or "none"
        message = f"nothing quarantined in {env} matches {what} (quarantined: {listed})"
        return Change(env, None, None, None, (), target, message)
    return _ledger_commit(
        target,
        ledger,
        model=None,
        before=None,
        subject=f"unblock {what} in {env}",
        trailers=simple_trailers("unblock", env, at=at, by=actor, target=what),
    )


def plan_resume(target: EnvState, *, actor: str, at: str) -> Change:
    env = target.name
    if not target.ledger.held:
        return Change(env, None, None, None, (), target, f"{env} is not on hold")
    return _ledger_commit(
        target,
        target.ledger.without_holds(),
        model=None,
        before=None,
        subject=f"resume automatic promotion into {env}",
        trailers=simple_trailers("resume", env, at=at, by=actor),
    )


# -- building blocks ------------------------------------------------------------------


def _commit(
    config: Config,
    target: EnvState,
    record: ReleaseRecord,
    ledger: Ledger,
    *,
    subject: str,
    trailers: Trailers,
    before: str | None,
) -> Change:
    image = image_target(config, record, previous=_pinned_before(target.ledger, record.model))
    changed = edit_folder(target.files, image)
    if not pins({**target.files, **changed}, image):
        raise unpinned(target, image, record)
    writes = [
        WriteFile(
            summary=f"pin {record.release} in {path}", path=path, old=target.files[path], new=text
        )
        for path, text in sorted(changed.items())
    ]
    files = {**target.files, **changed}
    ledger_change = _ledger_commit(
        replace(target, files=files),
        ledger,
        model=record.model,
        before=before,
        subject=subject,
        trailers=trailers,
        extra=writes,
        after=record.release,
    )
    return ledger_change


def _pinned_before(ledger: Ledger, model: str) -> tuple[str, ...]:
    """The repositories the environment's ledger has pinned the model's image under."""
    records = [ledger.current_for(model), *ledger.history]
    return tuple(dict.fromkeys(r.image for r in records if r is not None and r.model == model))


def _ledger_commit(
    target: EnvState,
    ledger: Ledger,
    *,
    model: str | None,
    before: str | None,
    subject: str,
    trailers: Trailers,
    extra: list[WriteFile] | None = None,
    after: str | None = None,
) -> Change:
    text = render_ledger(ledger)
    writes: list[Action] = list(extra or [])
    writes.append(
        WriteFile(
            summary=f"record in {target.ledger_path}",
            path=target.ledger_path,
            old=target.ledger_text,
            new=text,
        )
    )
    commit = GitCommit(
        summary=f"commit {target.env.path}: {subject}",
        message=subject,
        paths=(target.env.path,),
        trailers=trailers,
    )
    state = replace(target, ledger=ledger, ledger_text=text)
    return Change(
        target.name,
        model,
        before,
        after if after is not None else before,
        (*writes, commit),
        state,
        subject,
    )
