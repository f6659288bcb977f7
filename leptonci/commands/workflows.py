"""`leptonci workflows`: write or update .github/workflows/ from leptonci.yaml.

The model gate, the release, and the manual promote, rollback, resume and unblock
workflows, with the environment choices of leptonci.yaml (``leptonci/core/workflows.py``
renders them). ``--check`` writes nothing and exits 1 when a file is missing or out of
date (CI runs it); ``--dry-run`` prints the diffs.
"""

from __future__ import annotations

from leptonci.core.actions import WriteFile
from leptonci.core.errors import ExitCode
from leptonci.core.files import read_text, write_atomic
from leptonci.core.plan import Plan
from leptonci.core.workflows import existing_pins, render_workflows
from leptonci.runtime.context import Context


def plan_workflows(ctx: Context) -> Plan:
    """The file writes that bring .github/workflows/ up to date with leptonci.yaml."""
    current: dict[str, str] = {}
    files = render_workflows(ctx.config)
    for wf in files:
        path = ctx.root / wf.path
        if path.is_file():
            current[wf.path] = read_text(path, root=ctx.root)
    files = render_workflows(ctx.config, pins=existing_pins(current))
    writes = [
        WriteFile(
            summary=f"{'update' if wf.path in current else 'write'} {wf.path}",
            path=wf.path,
            old=current.get(wf.path),
            new=wf.text,
        )
        for wf in files
        if current.get(wf.path) != wf.text
    ]
    return Plan("write the GitHub workflows from leptonci.yaml", tuple(writes))


def run(ctx: Context, *, check: bool) -> int:
    plan = plan_workflows(ctx)
    data = {"up_to_date": plan.empty, "plan": plan.to_dict()}
    if check or ctx.dry_run:
        stale = [a.path for a in plan.actions if isinstance(a, WriteFile)]
        if check and stale:
            text = f"out of date: {', '.join(stale)}; run `leptonci workflows`\n"
        else:
            text = plan.render_text() if not plan.empty else "workflows are up to date\n"
        ctx.out.result(data, text)
        return int(ExitCode.NO) if check and stale else 0
    for action in plan.actions:
        if isinstance(action, WriteFile):
            target = ctx.root / action.path
            target.parent.mkdir(parents=True, exist_ok=True)
            write_atomic(target, action.new)
    done = "workflows are up to date" if plan.empty else f"wrote {len(plan.actions)} file(s)"
    ctx.out.result(data, plan.render_text() + done + "\n")
    return 0
