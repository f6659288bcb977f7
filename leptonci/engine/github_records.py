"""GitHub's side of a promotion: the promotion pull request and deployment records.

The promotion flow calls these. ``open_promotion_pr`` opens (or updates: one open PR
per head branch) the pull request that carries a release into an environment whose
policy is ``pull-request``, labelled ``leptonci:env/ENV``. ``record_deployment``
mirrors a promotion in GitHub's deployments (created on the first call, then one
status per call), and is a no-op outside GitHub and in dry runs.
"""

from __future__ import annotations

from leptonci.commands.pull_request import run_url
from leptonci.core.errors import ConfigError, UsageError
from leptonci.core.plan import ApiCall
from leptonci.core.report import promotion_marker
from leptonci.runtime.context import Context

DEPLOYMENT_STATES = ("queued", "pending", "in_progress", "success", "failure", "error", "inactive")


def env_label(env: str) -> str:
    return f"leptonci:env/{env}"


def promotion_pr_action(
    *, repository: str, env: str, release: str, branch: str, base: str, title: str, body: str
) -> ApiCall:
    """The plan action that opens or updates the promotion PR (for a caller's Plan)."""
    full_body = f"{body.rstrip()}\n\n{promotion_marker(env)}\n<!-- leptonci:release:{release} -->\n"
    return ApiCall(
        summary=f"open or update the pull request {branch} -> {base} in {repository or 'GitHub'}"
        f" promoting {release} to {env}",
        system="github",
        method="open-or-update-pull",
        target=f"{repository}:{branch}->{base}",
        payload={
            "head": branch,
            "base": base,
            "title": title,
            "body": full_body,
            "labels": [env_label(env)],
        },
    )


def open_promotion_pr(
    ctx: Context, *, env: str, release: str, branch: str, base: str, title: str, body: str
) -> str:
    """Open the promotion PR, or update the open one for branch; return its URL.

    Needs GitHub (GITHUB_TOKEN, GITHUB_REPOSITORY) with ``pull-requests: write``. In a
    dry run nothing is called and the returned text says what would be opened.
    """
    from leptonci.adapters.github import GitHub, settings_from_env

    settings = settings_from_env(ctx.env)
    action = promotion_pr_action(
        repository=settings.repository if settings else "",
        env=env,
        release=release,
        branch=branch,
        base=base,
        title=title,
        body=body,
    )
    if ctx.dry_run:
        return f"(dry run) would {action.summary}"
    if settings is None:
        raise ConfigError(
            f"environment {env} promotes by pull request, which needs GitHub: "
            "GITHUB_TOKEN and GITHUB_REPOSITORY are not set",
            hint="run in GitHub Actions, set both variables, or use policy: manual",
        )
    result = GitHub(settings).apply(action)
    ctx.out.info(f"{'opened' if result.created else 'updated'} pull request {result.url}")
    return str(result.url)


def record_deployment(
    ctx: Context,
    *,
    env: str,
    release: str,
    ref: str,
    state: str,
    description: str,
    deployment_id: int | None = None,
) -> int | None:
    """Create the GitHub deployment of release to env (first call), then add a status.

    Returns the deployment id to pass back on later calls, or None when GitHub is not
    configured or in a dry run (then nothing is called).
    """
    from leptonci.adapters.github import GitHub, settings_from_env

    if state not in DEPLOYMENT_STATES:
        raise UsageError(f"deployment state {state!r} is not one of {', '.join(DEPLOYMENT_STATES)}")
    settings = settings_from_env(ctx.env)
    if settings is None or ctx.dry_run:
        return None
    client = GitHub(settings)
    if deployment_id is None:
        deployment_id = client.create_deployment(
            ref=ref,
            environment=env,
            description=f"leptonci: {release} to {env}",
            payload={"release": release, "tool": "leptonci"},
        )
    client.create_deployment_status(
        deployment_id=deployment_id,
        state=state,
        description=description,
        log_url=run_url(ctx.env) or None,
    )
    return deployment_id
