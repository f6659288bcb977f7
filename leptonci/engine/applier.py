"""Applying a plan: one handler per action type, and the result that flows between them.

``Applier.apply`` runs a plan's actions in order. Each handler gets its action and the
``Applied`` result so far and returns the next one: the commit a ``GitCommit`` made is
what ``CreateDeployment`` records, the deployment id it got back is what a
``ServerSideApply`` failure or a later ``SetDeploymentStatus`` reports on. Nothing is
kept in a mutable bag; a caller that continues a landing's story (settling after a
promotion) passes the earlier result in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

from leptonci.adapters import kube
from leptonci.adapters.git import Git
from leptonci.adapters.github import GitHub, PullResult, settings_from_env
from leptonci.core.actions import (
    Action,
    ClosePullRequest,
    CreateCheckRun,
    CreateDeployment,
    EnableAutoMerge,
    GitCommit,
    GitPush,
    OpenPullRequest,
    ServerSideApply,
    SetCommitStatus,
    SetDeploymentStatus,
    Step,
    UpsertComment,
    WriteFile,
)
from leptonci.core.errors import ClusterError, ConfigError, GitHubError, UsageError
from leptonci.core.plan import Plan
from leptonci.core.trailers import one_line
from leptonci.engine.clone import end_journal, start_journal, write_atomic
from leptonci.runtime.context import Context

A = TypeVar("A", bound=Action)
DEPLOYMENT_STATES = ("queued", "pending", "in_progress", "success", "failure", "error", "inactive")


@dataclass(frozen=True)
class Applied:
    """What applying a plan produced, for the actions after it and for the caller."""

    commit: str | None = None  # the last commit made
    landed: bool = False  # the main branch has it
    pushed: tuple[str, ...] = ()  # branches pushed, in order
    pull_request: str | None = None  # URL of the promotion pull request opened or updated
    opened: PullResult | None = None  # ... and what GitHub said about it
    auto_merge: str | None = None  # "enabled" (waits for checks and reviews) | "merged"
    deployment_id: int | None = None  # the GitHub deployment of this landing
    applied_objects: tuple[str, ...] = ()  # Kind/namespace/name of a server-side apply
    actions: tuple[Action, ...] = ()  # every action applied so far, in order

    @property
    def merged(self) -> bool:
        """GitHub merged the landing pull request at once: main has the change."""
        return self.auto_merge == "merged"


class Applier:
    """Carries out plans in one clone for one context (GitHub and clusters from config)."""

    def __init__(self, ctx: Context, git: Git | None = None) -> None:
        self.ctx = ctx
        self.git = git or Git(ctx.root, deadlines=ctx.deadlines)
        self._github: GitHub | None = None
        self._journal: list[str] = []  # the folders the plan being applied commits
        self._handlers: dict[type[Action], Callable[[Action, Applied], Applied]] = {}
        self._on(Step, lambda action, done: done)
        self._on(WriteFile, self._write)
        self._on(GitCommit, self._commit)
        self._on(GitPush, self._push)
        self._on(OpenPullRequest, self._open_pull_request)
        self._on(CreateDeployment, self._create_deployment)
        self._on(SetDeploymentStatus, self._set_deployment_status)
        self._on(ServerSideApply, self._server_side_apply)
        self._on(UpsertComment, self._upsert_comment)
        self._on(SetCommitStatus, self._set_commit_status)
        self._on(CreateCheckRun, self._create_check_run)
        self._on(EnableAutoMerge, self._enable_auto_merge)
        self._on(ClosePullRequest, self._close_pull_request)

    def _on(self, kind: type[A], handler: Callable[[A, Applied], Applied]) -> None:
        self._handlers[kind] = handler  # type: ignore[assignment]

    def apply(self, plan: Plan, done: Applied | None = None) -> Applied:
        """Apply every action in order; a type without a handler fails before any runs."""
        missing = sorted({type(a).__name__ for a in plan.actions if type(a) not in self._handlers})
        if missing:
            raise TypeError(f"no handler for {', '.join(missing)}")
        self._journal = sorted(
            {p for a in plan.actions if isinstance(a, GitCommit) for p in a.paths}
        )
        result = done or Applied()
        for action in plan.actions:
            result = self._handlers[type(action)](action, result)
            result = replace(result, actions=(*result.actions, action))
        return result

    # -- git ------------------------------------------------------------------------
    def _write(self, action: WriteFile, done: Applied) -> Applied:
        start_journal(self.git, self._journal or [action.path])
        write_atomic(self.ctx.root / action.path, action.new)
        return done

    def _commit(self, action: GitCommit, done: Applied) -> Applied:
        author = self.ctx.config.git
        commit = self.git.commit_paths(
            action.paths,
            action.full_message(),
            author_name=author.author_name,
            author_email=author.author_email,
        )
        end_journal(self.git)
        return replace(done, commit=commit)

    def _push(self, action: GitPush, done: Applied) -> Applied:
        self.git.push(action.remote, action.branch, lease=action.lease)
        return replace(
            done, landed=done.landed or action.main, pushed=(*done.pushed, action.branch)
        )

    # -- GitHub ---------------------------------------------------------------------
    def github(self) -> GitHub:
        if self._github is None:
            settings = settings_from_env(self.ctx.env)
            if settings is None:
                raise ConfigError(
                    "the plan talks to GitHub, but GITHUB_TOKEN and GITHUB_REPOSITORY are not set",
                    hint="run in GitHub Actions or set both variables",
                )
            self._github = GitHub(settings, deadlines=self.ctx.deadlines)
        return self._github

    def _open_pull_request(self, action: OpenPullRequest, done: Applied) -> Applied:
        if action.repository is None:
            self.ctx.out.info(
                f"GitHub is not configured (GITHUB_TOKEN, GITHUB_REPOSITORY): open the pull "
                f"request {action.head} -> {action.base} by hand"
            )
            return done
        result = self.github().open_or_update_pull(
            head=action.head,
            base=action.base,
            title=action.title,
            body=action.body,
            labels=action.labels,
        )
        self.ctx.out.info(f"{'opened' if result.created else 'updated'} pull request {result.url}")
        return replace(done, pull_request=result.url, opened=result)

    def _enable_auto_merge(self, action: EnableAutoMerge, done: Applied) -> Applied:
        if done.opened is None:
            raise UsageError(f"no pull request for {action.head} to mark for auto-merge")
        result = self.github().enable_auto_merge(
            pull=done.opened, method=action.method, headline=action.headline, body=action.body
        )
        if result.state == "merged":
            self.ctx.out.info(f"merged {done.opened.url}: nothing held it")
        else:
            self.ctx.out.info(
                f"auto-merge enabled on {done.opened.url}: GitHub merges it once its "
                "required checks and reviews pass"
            )
        return replace(done, auto_merge=result.state)

    def _close_pull_request(self, action: ClosePullRequest, done: Applied) -> Applied:
        comment = (
            f"leptonci closed this pull request: it may no longer promote {action.release} "
            f"into `{action.env}`: {action.reason}.\n\n{stale_marker(action.env)}\n"
        )
        self.github().close_pull(
            number=action.number, marker=stale_marker(action.env), comment=comment
        )
        self.ctx.out.info(f"closed pull request #{action.number}: {action.reason}")
        return done

    def _create_deployment(self, action: CreateDeployment, done: Applied) -> Applied:
        """A GitHub failure here is a warning: the git side has landed."""
        ref = done.commit or self.git.head()
        try:
            client = self.github()
            deployment_id = client.create_deployment(
                ref=ref,
                environment=action.environment,
                description=f"leptonci: {action.release} to {action.environment}",
                payload={"release": action.release, "tool": "leptonci"},
            )
            client.create_deployment_status(
                deployment_id=deployment_id,
                state="in_progress",
                description=f"{action.release}: rolling out to {action.environment}",
                log_url=self.ctx.run_url or None,
            )
        except GitHubError as exc:
            self.ctx.out.warn(
                f"could not record the GitHub deployment of {action.release} to "
                f"{action.environment}: {exc}; the promotion itself landed"
            )
            return done
        return replace(done, deployment_id=deployment_id)

    def _set_deployment_status(self, action: SetDeploymentStatus, done: Applied) -> Applied:
        if action.state not in DEPLOYMENT_STATES:
            raise UsageError(
                f"deployment state {action.state!r} is not one of {', '.join(DEPLOYMENT_STATES)}"
            )
        finish_deployment(
            self,
            deployment_id=done.deployment_id,
            state=action.state,
            detail=action.description,
        )
        return done

    def _upsert_comment(self, action: UpsertComment, done: Applied) -> Applied:
        self.github().upsert_comment(number=action.number, marker=action.marker, body=action.body)
        return done

    def _set_commit_status(self, action: SetCommitStatus, done: Applied) -> Applied:
        sha = action.sha
        if sha is None:  # the head of the pull request this plan opened
            sha = (done.opened.head_sha if done.opened else "") or done.commit or ""
        if not sha:
            raise UsageError(f"no commit to set {action.context} on")
        self.github().set_status(
            sha=sha,
            state=action.state,
            context=action.context,
            description=action.description,
            target_url=action.target_url,
        )
        return done

    def _create_check_run(self, action: CreateCheckRun, done: Applied) -> Applied:
        self.github().create_check_run(
            name=action.name,
            head_sha=action.sha,
            conclusion=action.conclusion,
            title=action.title,
            summary=action.summary_text,
            text=action.text,
            details_url=action.details_url,
        )
        return done

    # -- clusters -------------------------------------------------------------------
    def _server_side_apply(self, action: ServerSideApply, done: Applied) -> Applied:
        """Render the environment's overlay from the working tree (the pushed commit)."""
        ctx = self.ctx
        env = ctx.config.env(action.environment)
        cluster = env.cluster
        if cluster is None:
            raise ConfigError(f"environment {env.name} has no cluster to apply to")
        try:
            rendered = kube.render_overlay(ctx.root, env.path)
            api = kube.load_api_client(cluster, env=ctx.env, root=ctx.root, deadlines=ctx.deadlines)
            try:
                applied = kube.apply_overlay(cluster, rendered_yaml=rendered, api_client=api)
            finally:
                api.close()
        except (ClusterError, ConfigError) as exc:
            finish_deployment(
                self, deployment_id=done.deployment_id, state="error", detail=exc.message
            )
            raise type(exc)(
                f"{env.path} landed in git ({(done.commit or '')[:12]}) but its server-side "
                f"apply to {action.target} failed: {exc.message}",
                hint=f"fix access to the cluster, then apply {env.path} again "
                f"(kubectl apply --server-side -k {env.path}) and run "
                f"`leptonci verify {env.name}`",
            ) from None
        ctx.out.info(f"applied {len(applied)} objects of {env.path} to {action.target}")
        return replace(done, applied_objects=tuple(applied))


def stale_marker(env: str) -> str:
    return f"<!-- leptonci:stale:{env} -->"


def finish_deployment(
    applier: Applier, *, deployment_id: int | None, state: str, detail: str
) -> None:
    """Set a deployment's final status; a GitHub failure is only a warning."""
    if deployment_id is None:
        return
    try:
        applier.github().create_deployment_status(
            deployment_id=deployment_id,
            state=state,
            description=one_line(detail)[:140] or state,
            log_url=applier.ctx.run_url or None,
        )
    except (GitHubError, ConfigError) as exc:
        applier.ctx.out.warn(f"could not set GitHub deployment {deployment_id} to {state}: {exc}")
