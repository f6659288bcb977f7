"""What follows a change's commit: how it reaches the remote, and what follows it there.

A change to an environment reaches the main branch one of three ways:

* ``git.land: push`` (the default): straight to main (``GitPush``); then the GitHub
  deployment of the release (``CreateDeployment``, when GitHub is configured) and, for
  ``apply: direct``, the server-side apply of the overlay (``ServerSideApply``).
* ``git.land: pull-request`` (a protected main): a landing branch
  ``leptonci/land/ENV/...`` and a pull request marked for auto-merge
  (``EnableAutoMerge``), so GitHub merges it once the branch's rules allow; the
  deployment and the apply follow the merge (``leptonci run push`` settles merged
  changes).
* ``policy: pull-request`` promotions, in either mode: a promotion branch and a pull
  request that a person reviews and merges (never auto-merged).

Every pull request leptonci opens gets a success status for each gated model's
required check (``leptonci/gate/MODEL``: it changes no model input), since a pull
request opened with the default token starts no workflow that would report it. All
pure: the engine tells the planner which GitHub repository it can reach, if any.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from leptonci.core.actions import (
    Action,
    CreateDeployment,
    EnableAutoMerge,
    GitCommit,
    GitPush,
    OpenPullRequest,
    ServerSideApply,
    SetCommitStatus,
)
from leptonci.core.config import ClusterConfig, Config, EnvironmentConfig
from leptonci.core.report import NO_MODEL_CHANGE, gate_context, promotion_marker
from leptonci.promotion.state import Change, EnvState

FIELD_MANAGER = "leptonci"
LAND_PREFIX = "leptonci/land/"
LAND_LABEL = "leptonci:land"


def promote_branch(env: str, release: str) -> str:
    return f"leptonci/promote/{env}/{release}"


def land_branch(env: str, subject: str) -> str:
    """The branch a change lands through on a protected main, named after its commit."""
    slug = re.sub(r"[^a-z0-9.]+", "-", subject.lower()).strip("-.")[:80].rstrip("-.")
    return f"{LAND_PREFIX}{env}/{slug or 'change'}"


def env_label(env: str) -> str:
    return f"leptonci:env/{env}"


def cluster_target(cluster: ClusterConfig) -> str:
    """Where an apply goes, as "context/namespace"."""
    return f"{cluster.context or 'current-context'}/{cluster.namespace}"


def push_to_main(config: Config) -> GitPush:
    remote, base = config.git.remote, config.git.branch
    return GitPush(summary=f"push to {remote} {base}", remote=remote, branch=base)


def land_actions(
    config: Config,
    *,
    env: EnvironmentConfig,
    changes: Sequence[Change],
    repository: str | None,
    branches: Mapping[str, str],
    after_main: Sequence[Action] = (),
) -> tuple[Action, ...]:
    """How the commit of changes reaches main, and what follows there.

    ``branches``: the remote's landing branches as read (name -> tip), for the lease.
    ``after_main``: what follows a push to main (deployment, direct apply); with
    ``git.land: pull-request`` it follows the merge instead, in ``leptonci run push``.
    """
    if config.git.land == "push":
        return (push_to_main(config), *after_main)
    commits = [a for c in changes for a in c.actions if isinstance(a, GitCommit)]
    if not commits:
        return ()
    commit = commits[-1]
    subject = commit.message.strip().splitlines()[0]
    remote, base = config.git.remote, config.git.branch
    branch = land_branch(env.name, subject)
    push = GitPush(
        summary=f"push branch {branch} to {remote} ({base} is protected: git.land is pull-request)",
        remote=remote,
        branch=branch,
        lease=branches.get(branch, ""),
    )
    if repository is None:
        pull = OpenPullRequest(
            summary=f"open the pull request {branch} -> {base} by hand: GitHub is not "
            "configured (GITHUB_TOKEN, GITHUB_REPOSITORY)",
            repository=None,
            env=env.name,
            release="",
            head=branch,
            base=base,
            title=subject,
            body="",
        )
        return (push, pull)
    method = config.git.merge_method
    pull = OpenPullRequest(
        summary=f"open or update the pull request {branch} -> {base} in {repository}: {subject}",
        repository=repository,
        env=env.name,
        release=", ".join(str(c.after) for c in changes if c.after and not c.noop),
        head=branch,
        base=base,
        title=subject,
        body=land_body(changes, env=env.name, subject=subject, method=method),
        labels=(env_label(env.name), LAND_LABEL),
    )
    body = commit.full_message().partition("\n")[2].strip() if method == "squash" else ""
    auto = EnableAutoMerge(
        summary=f"mark it for auto-merge ({method}): GitHub merges it once its required "
        "checks and reviews pass",
        repository=repository,
        head=branch,
        method=method,
        headline=subject,
        body=body,
    )
    return (push, pull, *gate_statuses(config, repository=repository), auto)


def land_body(changes: Sequence[Change], *, env: str, subject: str, method: str) -> str:
    lines = [
        f"leptonci lands this change to `{env}` through a pull request because the "
        "main branch is protected (`git.land: pull-request`). It is marked for "
        f"auto-merge ({method}): GitHub merges it as soon as its required checks (and "
        "reviews, where the branch's rules ask for them) pass.",
        "",
    ]
    lines += [f"- {c.message}" for c in changes if not c.noop]
    lines += ["", f"<!-- leptonci:land:{env} -->", ""]
    return "\n".join(lines)


def gate_statuses(config: Config, *, repository: str) -> tuple[SetCommitStatus, ...]:
    """Success for each gated model's required check on a pull request leptonci opens.

    Its commit changes only environment folders, so no model input changed; and a pull
    request the default token opens starts no workflow that would report the check.
    """
    return tuple(
        SetCommitStatus(
            summary=f"set status {gate_context(model)}=success on the pull request's head "
            f"({NO_MODEL_CHANGE})",
            repository=repository,
            sha=None,
            state="success",
            context=gate_context(model),
            description=NO_MODEL_CHANGE,
        )
        for model in config.models
    )


def pull_request_actions(
    config: Config,
    *,
    target: EnvState,
    release: str,
    title: str,
    body: str,
    repository: str | None,
) -> tuple[Action, ...]:
    """The promotion branch (force-pushed with a lease on what was read) and its PR.

    Without GitHub the pull request is for a person to open: the action says so, and
    applying it prints what to open.
    """
    remote, base = config.git.remote, config.git.branch
    env = target.name
    branch = promote_branch(env, release)
    known = target.branches.get(release)
    push = GitPush(
        summary=f"push branch {branch} to {remote}",
        remote=remote,
        branch=branch,
        lease=known.tip if known else "",
    )
    full_body = f"{body.rstrip()}\n\n{promotion_marker(env)}\n<!-- leptonci:release:{release} -->\n"
    if repository is None:
        summary = (
            f"open the pull request {branch} -> {base} by hand: GitHub is not configured "
            "(GITHUB_TOKEN, GITHUB_REPOSITORY); its title and body are below"
        )
    else:
        summary = (
            f"open or update the pull request {branch} -> {base} in {repository} "
            f"promoting {release} to {env}"
        )
    pull = OpenPullRequest(
        summary=summary,
        repository=repository,
        env=env,
        release=release,
        head=branch,
        base=base,
        title=title,
        body=full_body,
        labels=(env_label(env),),
    )
    statuses = gate_statuses(config, repository=repository) if repository else ()
    return (push, pull, *statuses)


def deploy_actions(
    env: EnvironmentConfig,
    *,
    releases: Sequence[str],
    repository: str | None,
    objects: Sequence[str] = (),
) -> tuple[Action, ...]:
    """What follows a push of env to the main branch (nothing without a release).

    ``objects``: what env's overlay renders to, for the summary of a direct apply.
    """
    if not releases:
        return ()
    release = ", ".join(releases)
    actions: list[Action] = []
    if repository is not None:
        actions.append(
            CreateDeployment(
                summary=f"create the GitHub deployment of {release} to {env.name} in "
                f"{repository}: in_progress, then success or failure after verification",
                repository=repository,
                environment=env.name,
                release=release,
            )
        )
    cluster = env.cluster
    if cluster is not None and cluster.apply == "direct":
        where = cluster_target(cluster)
        actions.append(
            ServerSideApply(
                summary=f"server-side apply {len(objects)} objects of {env.path} to {where}",
                environment=env.name,
                path=env.path,
                target=where,
                field_manager=FIELD_MANAGER,
            )
        )
    return tuple(actions)


def branch_carries(target: EnvState, release: str, moved: Sequence[Change]) -> bool:
    """Whether the remote's promotion branch already promotes moved onto target as it is.

    Re-pushing it would only change timestamps, yet dismiss the pull request's approvals.
    """
    branch = target.branches.get(release)
    if branch is None or not branch.on_current:
        return False
    for change in moved:
        after = change.state.ledger.current_for(change.model or "")
        there = branch.ledger.current_for(change.model or "")
        if after is None or there is None:
            return False
        if (there.release, there.digest, there.action) != (
            after.release,
            after.digest,
            after.action,
        ):
            return False
    return True
