"""What follows a commit into an environment: the direct cluster apply and the GitHub deployment.

``deploy_actions`` extends a promotion's (or rollback's) plan after its push to the main
branch with, in order: the GitHub deployment of the release, opened ``in_progress``
(when GitHub is configured), and the server-side apply of the environment's rendered
overlay when its cluster says ``apply: direct`` (with ``gitops`` a controller syncs the
commit and there is nothing to do but verify). ``start_deployment`` and
``apply_to_cluster`` carry those ApiCalls out for ``land``; ``finish_deployment`` sets
the deployment's final status once verification has spoken. A GitHub failure while
recording a deployment is a warning, never a failed promotion: the git side has landed.
"""

from __future__ import annotations

from collections.abc import Sequence

from leptonci.core.config import ClusterConfig, EnvironmentConfig
from leptonci.core.errors import ClusterError, ConfigError, GitHubError
from leptonci.core.plan import ApiCall
from leptonci.core.trailers import one_line
from leptonci.runtime.context import Context

KUBERNETES = "kubernetes"
SERVER_SIDE_APPLY = "server-side-apply"
CREATE_DEPLOYMENT = "create-deployment"


def cluster_target(cluster: ClusterConfig) -> str:
    """Where an apply goes, as "context/namespace"."""
    return f"{cluster.context or 'current-context'}/{cluster.namespace}"


def github_configured(ctx: Context) -> bool:
    from leptonci.adapters.github import settings_from_env

    return settings_from_env(ctx.env) is not None


def deploy_actions(
    ctx: Context, env: EnvironmentConfig, *, releases: Sequence[str]
) -> tuple[ApiCall, ...]:
    """The ApiCalls that follow a push of env to the main branch (none without a release)."""
    if not releases:
        return ()
    release = ", ".join(releases)
    actions: list[ApiCall] = []
    if github_configured(ctx):
        repository = ctx.env.get("GITHUB_REPOSITORY", "")
        actions.append(
            ApiCall(
                summary=f"create the GitHub deployment of {release} to {env.name} in "
                f"{repository}: in_progress, then success or failure after verification",
                system="github",
                method=CREATE_DEPLOYMENT,
                target=f"{repository}:{env.name}",
                payload={"environment": env.name, "release": release},
            )
        )
    cluster = env.cluster
    if cluster is not None and cluster.apply == "direct":
        from leptonci.adapters.kube import FIELD_MANAGER

        where = cluster_target(cluster)
        count = len(_rendered_objects(ctx, env))
        actions.append(
            ApiCall(
                summary=f"server-side apply {count} objects of {env.path} to {where}",
                system=KUBERNETES,
                method=SERVER_SIDE_APPLY,
                target=where,
                payload={"environment": env.name, "path": env.path, "field_manager": FIELD_MANAGER},
            )
        )
    return tuple(actions)


def _rendered_objects(ctx: Context, env: EnvironmentConfig) -> list[str]:
    from leptonci.adapters.kube import parse_manifests, render_overlay

    objects = parse_manifests(render_overlay(ctx.root, env.path))
    return [f"{o['kind']}/{o['metadata']['name']}" for o in objects]


def apply_to_cluster(
    ctx: Context, action: ApiCall, *, commit: str | None, deployment_id: int | None
) -> list[str]:
    """Render env's overlay from the working tree (the pushed commit) and apply it."""
    from leptonci.adapters.kube import apply_overlay, load_api_client, render_overlay

    env = ctx.config.env(str(action.payload["environment"]))
    cluster = env.cluster
    assert cluster is not None
    try:
        rendered = render_overlay(ctx.root, env.path)
        api = load_api_client(cluster, env=ctx.env, root=ctx.root)
        try:
            applied = apply_overlay(cluster, rendered_yaml=rendered, api_client=api)
        finally:
            api.close()
    except (ClusterError, ConfigError) as exc:
        finish_deployment(
            ctx, env=env.name, deployment_id=deployment_id, state="error", detail=exc.message
        )
        raise type(exc)(
            f"{env.path} landed in git ({(commit or '')[:12]}) but its server-side apply to "
            f"{cluster_target(cluster)} failed: {exc.message}",
            hint=f"fix access to the cluster, then apply {env.path} again "
            f"(kubectl apply --server-side -k {env.path}) and run `leptonci verify {env.name}`",
        ) from None
    ctx.out.info(f"applied {len(applied)} objects of {env.path} to {cluster_target(cluster)}")
    return applied


def start_deployment(ctx: Context, action: ApiCall, *, ref: str) -> int | None:
    """Create the GitHub deployment with an in_progress status; None when that fails."""
    from leptonci.engine.github_records import record_deployment

    env, release = str(action.payload["environment"]), str(action.payload["release"])
    try:
        return record_deployment(
            ctx,
            env=env,
            release=release,
            ref=ref,
            state="in_progress",
            description=f"{release}: rolling out to {env}",
        )
    except GitHubError as exc:
        ctx.out.warn(
            f"could not record the GitHub deployment of {release} to {env}: {exc}; "
            "the promotion itself landed"
        )
        return None


def finish_deployment(
    ctx: Context, *, env: str, deployment_id: int | None, state: str, detail: str
) -> None:
    """Set the deployment's final status (success, failure, error); warn if GitHub fails."""
    if deployment_id is None or ctx.dry_run:
        return
    from leptonci.engine.github_records import record_deployment

    try:
        record_deployment(
            ctx,
            env=env,
            release="",
            ref="",
            state=state,
            description=one_line(detail)[:140] or state,
            deployment_id=deployment_id,
        )
    except GitHubError as exc:
        ctx.out.warn(f"could not set GitHub deployment {deployment_id} to {state}: {exc}")
