"""What follows a change's commit: how it reaches the remote, and what follows it there.

A change to an environment either goes straight to the main branch (``GitPush``) or,
for ``policy: pull-request``, to a promotion branch with a pull request
(``OpenPullRequest``). After a push to main come the GitHub deployment of the release
(``CreateDeployment``, when GitHub is configured) and, for ``apply: direct``, the
server-side apply of the overlay (``ServerSideApply``). All pure: the engine tells the
planner which GitHub repository it can reach, if any.
"""

from __future__ import annotations

from collections.abc import Sequence

from leptonci.core.actions import (
    Action,
    CreateDeployment,
    GitPush,
    OpenPullRequest,
    ServerSideApply,
)
from leptonci.core.config import ClusterConfig, Config, EnvironmentConfig
from leptonci.core.report import promotion_marker
from leptonci.promotion.state import Change, EnvState

FIELD_MANAGER = "leptonci"


def promote_branch(env: str, release: str) -> str:
    return f"leptonci/promote/{env}/{release}"


def env_label(env: str) -> str:
    return f"leptonci:env/{env}"


def cluster_target(cluster: ClusterConfig) -> str:
    """Where an apply goes, as "context/namespace"."""
    return f"{cluster.context or 'current-context'}/{cluster.namespace}"


def push_to_main(config: Config) -> GitPush:
    remote, base = config.git.remote, config.git.branch
    return GitPush(summary=f"push to {remote} {base}", remote=remote, branch=base)


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
    return (push, pull)


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
