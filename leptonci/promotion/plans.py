"""The promotion rules as a pure planner: environment state in, a ``Change`` out.

Given what an environment's folder holds (manifests and ledger), its upstream's ledger
and a request (promote, enter a new build, roll back, verify, hold, unblock, resume),
this module decides: refuse (``PromotionRefused``), do nothing (already current), or
the file writes and the commit that make it so. It reads no clock, no git and no
network: the flows pass the time and the actor in and apply what comes out.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from leptonci.core.config import Config, EnvironmentConfig
from leptonci.core.errors import PromotionRefused, UsageError
from leptonci.core.ledger import (
    LEDGER_FILE,
    Hold,
    Ledger,
    Quarantine,
    ReleaseRecord,
    Verification,
    render_ledger,
)
from leptonci.core.plan import Action, ApiCall, GitCommit, GitPush, WriteFile
from leptonci.core.tables import short_digest
from leptonci.core.trailers import Trailers, record_trailers, simple_trailers, verification_trailers
from leptonci.manifests import ImageTarget, edit_folder

NO_CLUSTER = "no cluster configured"


@dataclass(frozen=True)
class EnvState:
    """An environment's folder as read from a tree: manifests and ledger."""

    env: EnvironmentConfig
    files: Mapping[str, str]  # repo-relative path -> text, ledger excluded
    ledger: Ledger
    ledger_text: str | None  # None when the folder has no ledger file yet

    @property
    def name(self) -> str:
        return self.env.name

    @property
    def ledger_path(self) -> str:
        return f"{self.env.path}/{LEDGER_FILE}"


@dataclass(frozen=True)
class Change:
    """One commit's worth of change to one environment, and the state after it."""

    env: str
    model: str | None
    before: str | None  # release current for model before the change
    after: str | None  # ... and after it
    actions: tuple[Action, ...]  # WriteFiles then one GitCommit; empty for a no-op
    state: EnvState
    message: str  # what happened, one line

    @property
    def noop(self) -> bool:
        return not self.actions


# -- rules ----------------------------------------------------------------------------


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


# -- plans ----------------------------------------------------------------------------


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
    )


def plan_entry(
    config: Config, *, target: EnvState, record: ReleaseRecord, actor: str, at: str
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
) -> Change:
    env = target.name
    current = target.ledger.current_for(record.model)
    before = current.release if current else None
    if (
        current is not None
        and current.digest == record.digest
        and current.release == record.release
    ):
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


def initial_verification(env: EnvironmentConfig, at: str) -> Verification:
    """Without a cluster there is nothing to wait for: the release counts as verified."""
    if env.cluster is None:
        return Verification(result="skipped", at=at, detail=NO_CLUSTER)
    return Verification(result="unverified")


def plan_rollback(
    config: Config,
    *,
    target: EnvState,
    model: str | None,
    to: str | None,
    reason: str,
    actor: str,
    at: str,
) -> Change:
    """Restore the previous (or named) release: a new commit, quarantine, hold."""
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
    image = ImageTarget(
        name=config.image_name(record.model),
        new_name=record.image,
        tag=record.release,
        digest=record.digest,
    )
    changed = edit_folder(target.files, image)
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


def promote_branch(env: str, release: str) -> str:
    return f"leptonci/promote/{env}/{release}"


def push_actions(
    config: Config,
    *,
    env: EnvironmentConfig,
    release: str | None,
    pull_request: bool,
    title: str = "",
    body: str = "",
) -> tuple[Action, ...]:
    """Direct push to the main branch, or a promotion branch plus a pull request."""
    remote, base = config.git.remote, config.git.branch
    if not pull_request or release is None:
        return (
            GitPush(
                summary=f"push to {remote} {base}",
                remote=remote,
                ref=f"HEAD:refs/heads/{base}",
                branch=base,
            ),
        )
    branch = promote_branch(env.name, release)
    payload: dict[str, Any] = {"title": title, "head": branch, "base": base, "body": body}
    return (
        # The promotion branch is leptonci's own: a rerun replaces it ("+" forces).
        GitPush(
            summary=f"push branch {branch} to {remote}",
            remote=remote,
            ref=f"+HEAD:refs/heads/{branch}",
            branch=branch,
        ),
        ApiCall(
            summary=f"open pull request {branch} -> {base}: {title}",
            system="github",
            method="POST",
            target="pulls",
            payload=payload,
        ),
    )
