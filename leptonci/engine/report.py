"""How a landing is reported: the plan (a dry run) or what was done, and one JSON document."""

from __future__ import annotations

from leptonci.core.actions import OpenPullRequest
from leptonci.engine.landing import Landed
from leptonci.runtime.context import Context


def outcome(landed: Landed, *, done: str) -> str:
    """What happened to a landing, in one line: done, or where it waits."""
    applied = landed.applied
    if applied is None or applied.landed:
        return done
    url = applied.pull_request or "the pull request"
    if applied.merged:
        return f"{done}: {url} merged"
    if applied.auto_merge == "enabled":
        return (
            f"pull request {url} opened with auto-merge: it lands once its required checks "
            "(and reviews) pass, and `leptonci run push` settles it after the merge"
        )
    if applied.pull_request:
        return f"pull request opened: {applied.pull_request} (awaiting merge)"
    return f"branch {', '.join(applied.pushed)} pushed (awaiting a pull request and its merge)"


def report_landed(ctx: Context, landed: Landed, *, done: str) -> None:
    """Print the plan (dry run) or what was done; --json gets one document."""
    plan, applied = landed.plan, landed.applied
    done = outcome(landed, done=done)
    data: dict[str, object] = {
        "dry_run": ctx.dry_run,
        "applied": bool(applied and applied.pushed),
        "commit": applied.commit if applied else None,
        "pull_request": applied.pull_request if applied else None,
        "auto_merge": applied.auto_merge if applied else None,
        "on_main": bool(applied and (applied.landed or applied.merged)),
        "changes": [
            {
                "env": c.env,
                "model": c.model,
                "before": c.before,
                "after": c.after,
                "message": c.message,
            }
            for c in landed.changes
        ],
        "plan": plan.to_dict(),
        "applied_actions": [a.to_dict() for a in applied.actions] if applied else [],
    }
    if plan.empty:
        text = plan.render_text() + "nothing to do\n"
    elif ctx.dry_run:
        text = plan.render_text() + "dry run: nothing was written\n"
    else:
        commit = (applied.commit if applied else None) or ""
        # a commit that went to a promotion branch is on no branch of the user's: the
        # line names the pull request (or the branch) instead
        on_main = bool(applied and (applied.landed or applied.merged))
        text = plan.render_text() + (f"{done} ({commit[:12]})\n" if on_main else f"{done}\n")
        ctx.out.summary(plan.render_markdown())
    for action in plan.actions:
        if isinstance(action, OpenPullRequest) and not ctx.json:
            text += f"\npull request title: {action.title}\n\n{action.body}\n"
    ctx.out.result(data, text)
    if applied is not None:
        moved = [c for c in landed.changes if not c.noop]
        on_main = applied.landed or applied.merged
        ctx.out.set_output("release", ",".join(str(c.after) for c in moved if c.after))
        ctx.out.set_output("environments", ",".join(c.env for c in moved) if on_main else "")
        ctx.out.set_output("pull-request", applied.pull_request or "")
        ctx.out.set_output("commit", applied.commit or "")
