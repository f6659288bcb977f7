"""Landing: plan on the remote tip, apply, retry on a lost race, recover after a kill.

``land`` takes a pure planner (``propose``: a ``Snapshot`` of every environment folder
in, a ``Proposal`` out) and makes it true on the remote. A real run, holding the clone's
writer lock: recover what a killed earlier run left, fetch the remote tip, refuse
uncommitted changes in the folders it writes and commits of the user's own that are not
on the remote, move the clone to the tip, read the snapshot, plan, apply. A push
rejected as non-fast-forward means someone landed first: back to the tip, read again,
plan again (never a textual rebase), with jittered backoff, a bounded number of times;
when the environment moved to another release meanwhile it stops with a
``ConflictError``. Before anything is written, every environment the plan changes is
rendered with kustomize as planned (``rendering``). A dry run makes the same checks and the same plan on the tree of the
remote-tracking branch as last fetched, without fetching (unless the context says
``fetch``) and without writing anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from leptonci.adapters import kube
from leptonci.adapters.git import Git
from leptonci.adapters.github import settings_from_env
from leptonci.adapters.retrying import retry_call
from leptonci.core.actions import Action
from leptonci.core.attestation import Evidence
from leptonci.core.backoff import Backoff
from leptonci.core.config import EnvironmentConfig
from leptonci.core.errors import ConflictError, GitError, PushRejected, UsageError
from leptonci.core.plan import Plan
from leptonci.engine.applier import Applied, Applier
from leptonci.engine.clone import end_journal, exclusive, interrupted, recover
from leptonci.engine.envfiles import (
    promotion_branches,
    read_worktree,
    state_from_files,
    worktree_files,
)
from leptonci.engine.rendering import check_renders
from leptonci.promotion.delivery import LAND_PREFIX, promote_branch
from leptonci.promotion.state import Attested, Change, EnvState
from leptonci.runtime.attestations import read_evidence, trust_for
from leptonci.runtime.context import Context


@dataclass(frozen=True)
class Snapshot:
    """Every environment's folder as the plan is made on it, and who can be reached."""

    states: Mapping[str, EnvState]
    repository: str | None  # the GitHub repository leptonci can talk to, or None
    objects: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # ^ "Kind/name" of the rendered overlay, for environments leptonci applies directly
    land_branches: Mapping[str, str] = field(default_factory=dict)
    # ^ the remote's leptonci/land/... branches as read (name -> tip), for their leases
    attested: Attested | None = None  # trust and evidence, for environments that require
    tip: str | None = None  # the main branch's commit the states were read from

    def __getitem__(self, env: EnvironmentConfig) -> EnvState:
        return self.states[env.name]


@dataclass(frozen=True)
class Proposal:
    title: str
    changes: tuple[Change, ...]
    follow: tuple[Action, ...] = ()  # after the commits: pushes, pull requests, deployments
    notes: tuple[str, ...] = ()
    models: tuple[str, ...] = ()  # what a proposal without changes is about (settling)

    def plan(self) -> Plan:
        actions = [a for c in self.changes for a in c.actions]
        if not actions and not self.follow:
            return Plan(self.title, (), (*(c.message for c in self.changes), *self.notes))
        # follow-up actions alone: the cluster apply and GitHub deployment of a release
        # that reached main some other way (a merged promotion pull request)
        return Plan(self.title, (*actions, *self.follow), self.notes)


Planner = Callable[[Snapshot], Proposal]


@dataclass(frozen=True)
class Landed:
    plan: Plan
    changes: tuple[Change, ...]
    applied: Applied | None = None  # None: a dry run, or nothing to do
    models: tuple[str, ...] = ()

    @property
    def noop(self) -> bool:
        return self.plan.empty


def land(
    ctx: Context,
    propose: Planner,
    *,
    writes: Sequence[EnvironmentConfig],
    overlay: Mapping[str, EnvState] | None = None,
    carry: Applied | None = None,
    planned: Mapping[str, Evidence] | None = None,
) -> Landed:
    """Plan on the remote tip and apply; with ctx.dry_run plan the same, write nothing.

    ``writes``: the environments whose folders the plan may change. ``overlay``: states
    that replace what is read (a dry run's chain of planned steps). ``carry``: the result
    of an earlier landing this one continues (its GitHub deployment). ``planned``:
    attestations a dry run plans to attach, by digest, read instead of the registry.
    """
    git = Git(ctx.root, deadlines=ctx.deadlines)
    attested = _attested(ctx, writes, planned or {})
    if ctx.dry_run:
        return _dry_run(ctx, git, propose, writes=writes, overlay=overlay, attested=attested)
    remote, branch = ctx.config.git.remote, ctx.config.git.branch
    paths = [env.path for env in writes]
    retries = ctx.config.git.push_retries
    first: list[Proposal] = []  # the first round's plan, to tell a conflict from a race

    def one_round() -> Landed:
        tip = _fetch(git, remote, branch, writes, land=ctx.config.git.land)
        check_clean(git, tip, paths, remote=remote, branch=branch)
        git.reset_keep(tip)
        snapshot = _snapshot(ctx, git, tip, writes, overlay, worktree=True, attested=attested)
        proposal = propose(snapshot)
        if first:
            check_conflict(first[0], proposal)
        else:
            first.append(proposal)
        plan = proposal.plan()
        if plan.empty:
            return Landed(plan, proposal.changes, None, models=proposal.models)
        if note := check_renders(ctx.root, plan, writes):
            plan = plan.with_note(note)
        try:
            applied = Applier(ctx, git).apply(plan, carry)
        except BaseException:
            # Once main has the commit, the clone stays on it: what failed came after
            # (the cluster apply) and the commit is the truth to retry from.
            if not _on_remote(git, remote, branch):
                _undo(git, tip, paths)
            raise  # a PushRejected is retried below: fetch, plan again on the new tip
        if applied.merged:
            git.reset_keep(git.fetch(remote, branch))  # GitHub merged it at once: main moved
        elif not applied.landed:
            git.reset_keep(tip)  # it went to a promotion or landing branch, not to main
        return Landed(plan, proposal.changes, applied, models=proposal.models)

    with exclusive(git):
        recover(git)
        return retry_call(
            one_round,
            what=f"push to {remote} {branch}",
            schedule=Backoff(attempts=retries + 1, base_delay=0.2, max_delay=5.0),
            retry_if=lambda exc: isinstance(exc, PushRejected),
            before_retry=lambda failed: ctx.out.info(
                f"{_lost(failed.error)} moved meanwhile (another writer landed first); "
                "rebuilding the plan on what it landed"
            ),
            give_up=lambda _, tries: GitError(
                f"push to {remote} {branch} kept being rejected ({tries} attempts)",
                hint="others are landing changes; rerun, or raise git.push_retries",
            ),
        )


def _dry_run(
    ctx: Context,
    git: Git,
    propose: Planner,
    *,
    writes: Sequence[EnvironmentConfig],
    overlay: Mapping[str, EnvState] | None,
    attested: Attested | None,
) -> Landed:
    remote, branch = ctx.config.git.remote, ctx.config.git.branch
    notes: list[str] = []
    if not git.is_repo():
        snapshot = _snapshot(ctx, None, None, writes, overlay, worktree=True, attested=attested)
        notes.append(f"{ctx.root} is not a git repository: planned on the working tree")
    else:
        if interrupted(git):
            notes.append(
                "an earlier run was interrupted in this clone; the real run undoes it first"
            )
        tip = (
            _fetch(git, remote, branch, writes, land=ctx.config.git.land)
            if ctx.fetch
            else git.branch_tip(remote, branch, fetch=False)
        )
        if tip is None:
            tip = git.head()
            notes.append(f"no {remote}/{branch} in this clone: planned on HEAD")
        check_clean(git, tip, [env.path for env in writes], remote=remote, branch=branch)
        snapshot = _snapshot(ctx, git, tip, writes, overlay, worktree=False, attested=attested)
    proposal = propose(snapshot)
    plan = proposal.plan()
    if note := check_renders(ctx.root, plan, writes):
        notes.append(note)
    for note in notes:
        plan = plan.with_note(note)
    return Landed(plan, proposal.changes, None, models=proposal.models)


def _fetch(
    git: Git, remote: str, branch: str, writes: Sequence[EnvironmentConfig], *, land: str
) -> str:
    tip = git.fetch(remote, branch)
    for env in writes:
        if env.policy == "pull-request":
            git.fetch_prefix(remote, promote_branch(env.name, ""))
        if land == "pull-request":
            git.fetch_prefix(remote, f"{LAND_PREFIX}{env.name}/")
    return tip


def _snapshot(
    ctx: Context,
    git: Git | None,
    tip: str | None,
    writes: Sequence[EnvironmentConfig],
    overlay: Mapping[str, EnvState] | None,
    *,
    worktree: bool,
    attested: Attested | None = None,
) -> Snapshot:
    remote = ctx.config.git.remote
    pr_envs = {e.name for e in writes if e.policy == "pull-request"}
    states: dict[str, EnvState] = {}
    for env in ctx.config.ordered_envs():
        if overlay is not None and env.name in overlay:
            states[env.name] = overlay[env.name]
            continue
        if git is None or tip is None:
            states[env.name] = read_worktree(ctx.root, env)
            continue
        files = worktree_files(ctx.root, env) if worktree else git.tree_files(tip, env.path)
        branches = (
            promotion_branches(git, env, remote=remote, main_tip=tip)
            if env.name in pr_envs
            else None
        )
        states[env.name] = state_from_files(env, files, branches=branches)
    settings = settings_from_env(ctx.env)
    objects = {
        env.name: rendered_objects(ctx, env)
        for env in writes
        if env.cluster is not None and env.cluster.apply == "direct"
    }
    land_branches: dict[str, str] = {}
    if git is not None and ctx.config.git.land == "pull-request":
        prefix = f"refs/remotes/{remote}/"
        for ref, sha in git.refs_under(f"{prefix}{LAND_PREFIX}"):
            land_branches[ref.removeprefix(prefix)] = sha
    return Snapshot(
        states, settings.repository if settings else None, objects, land_branches, attested, tip
    )


def _attested(
    ctx: Context, writes: Sequence[EnvironmentConfig], planned: Mapping[str, Evidence]
) -> Attested | None:
    """Trust for the written environments that require attestations, and a reader of
    the attestations on a digest that reads each digest once (planned ones first)."""
    trust = {
        env.name: trust_for(ctx, env.require, where=f"environments.{env.name}.require")
        for env in writes
        if env.require is not None
    }
    if not trust:
        return None
    seen: dict[str, Evidence] = dict(planned)

    def evidence(image: str, digest: str) -> Evidence:
        if digest not in seen:
            seen[digest] = read_evidence(ctx, image, digest)
        return seen[digest]

    return Attested(trust, evidence)


def rendered_objects(ctx: Context, env: EnvironmentConfig) -> tuple[str, ...]:
    """The objects env's overlay renders to, as "Kind/name" (kustomize on the worktree)."""
    objects = kube.parse_manifests(kube.render_overlay(ctx.root, env.path))
    return tuple(f"{o['kind']}/{o['metadata']['name']}" for o in objects)


def tip_state(ctx: Context, env: EnvironmentConfig) -> EnvState:
    """env's folder as the remote's main branch has it: fetched first in a real run, as
    last fetched in a dry run; the working tree outside git or without that branch."""
    git = Git(ctx.root, deadlines=ctx.deadlines)
    if not git.is_repo():
        return read_worktree(ctx.root, env)
    remote, branch = ctx.config.git.remote, ctx.config.git.branch
    if ctx.dry_run and not ctx.fetch:
        tip = git.branch_tip(remote, branch, fetch=False)
    else:
        tip = git.branch_tip(remote, branch)
    if tip is None:
        return read_worktree(ctx.root, env)
    return state_from_files(env, git.tree_files(tip, env.path))


def check_clean(git: Git, tip: str, paths: Sequence[str], *, remote: str, branch: str) -> None:
    """Refuse uncommitted changes in paths, and commits of the user's own not on tip."""
    dirty = git.dirty_paths(paths)
    if dirty:
        raise UsageError(
            f"uncommitted changes in {', '.join(dirty[:5])}",
            hint="commit or stash them first; leptonci writes these folders itself",
        )
    head = git.run("rev-parse", "--verify", "--quiet", "HEAD", check=False).stdout.strip()
    if head and not git.is_ancestor(head, tip):
        foreign = [
            c for c in git.commits_between(tip, head) if "Leptonci-Action:" not in git.message(c)
        ]
        if foreign:
            raise UsageError(
                f"HEAD has {len(foreign)} commit(s) not on {remote}/{branch}",
                hint="push or rebase them first, so the promotion lands on the remote tip",
            )
        # only leptonci commits of an earlier, unpushed attempt: dropped, the plan is rebuilt


def check_conflict(first: Proposal, now: Proposal) -> None:
    for old in first.changes:
        if old.model is None or old.noop:
            continue
        new = next((c for c in now.changes if (c.env, c.model) == (old.env, old.model)), None)
        if new is None or new.before == old.before or new.before == old.after:
            continue
        raise ConflictError(
            f"{old.env} moved from {old.before or 'nothing'} to {new.before} for {old.model} "
            f"meanwhile; not replacing it with {old.after}",
            hint=f"check `leptonci history {old.env}` and rerun if {old.after} should still go in",
        )


def _lost(error: Exception) -> str:
    """The branch a rejected push lost its race for (main or a promotion branch)."""
    return error.branch if isinstance(error, PushRejected) and error.branch else "the branch"


def _on_remote(git: Git, remote: str, branch: str) -> bool:
    tracking = git.branch_tip(remote, branch, fetch=False)
    return tracking is not None and tracking == git.head()


def _undo(git: Git, tip: str, paths: Sequence[str]) -> None:
    try:
        if git.head() != tip:
            git.reset_keep(tip)
        git.restore_paths(paths)
        end_journal(git)
    except GitError:
        pass  # the original error is the one to report
