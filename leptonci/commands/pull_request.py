"""`leptonci run pull-request`: gate the models a pull request changes and report on it.

For each model whose inputs changed against the PR's base (all models when the base
is unknown), train it (the cache makes this cheap when nothing changed), gate it
against the release current in its reference environment, and report: one sticky
comment per model, a commit status ``leptonci/gate/MODEL``, the job summary. A model
whose inputs the pull request leaves alone gets a success status too ("no model input
changed"), so a required ``leptonci/gate/MODEL`` check never waits on a pull request
that changes docs only. Needs only the default token, pushes nothing; exit 1 when any
gate fails. The GitHub calls form a Plan: ``--dry-run`` prints it, a real run applies it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from leptonci.adapters.git import Git
from leptonci.adapters.github import settings_from_env
from leptonci.core.actions import CreateCheckRun, SetCommitStatus, Step, UpsertComment
from leptonci.core.candidate import Candidate
from leptonci.core.config import CONFIG_FILE, Config
from leptonci.core.errors import ConfigError, UsageError
from leptonci.core.files import read_text
from leptonci.core.gate import Verdict
from leptonci.core.ledger import Ledger
from leptonci.core.plan import Plan
from leptonci.core.report import (
    NO_MODEL_CHANGE,
    GateReport,
    check_run_name,
    gate_context,
    gate_marker,
    render_gate_report,
    render_summary,
    status_description,
)
from leptonci.core.training_contract import candidate_label
from leptonci.engine.applier import Applier
from leptonci.engine.envfiles import read_ledger
from leptonci.pipeline.gate import gate_candidate
from leptonci.pipeline.train import model_content_hash, planned_candidate, train_model
from leptonci.runtime.context import Context


@dataclass(frozen=True)
class PullRequestEvent:
    """What the workflow run knows about its pull request."""

    number: int | None = None
    head_sha: str = ""
    base_ref: str = ""  # branch name, e.g. main
    base_sha: str = ""
    from_fork: bool = False


def pull_request_event(env: Mapping[str, str]) -> PullRequestEvent:
    """The PR from GITHUB_EVENT_PATH's payload, GITHUB_REF and friends (all optional).

    A payload that cannot be read, or a field of the wrong shape in it, counts as absent:
    the environment's variables say the rest."""
    pull: Mapping[str, Any] = {}
    path = env.get("GITHUB_EVENT_PATH")
    if path:
        try:
            pull = _field(json.loads(read_text(Path(path))), "pull_request")
        except (OSError, ValueError, ConfigError):
            pull = {}
    number = pull.get("number")
    if isinstance(number, bool) or not isinstance(number, int):
        found = re.fullmatch(r"refs/pull/(\d+)/(?:merge|head)", env.get("GITHUB_REF", ""))
        number = int(found.group(1)) if found else None
    head, base = _field(pull, "head"), _field(pull, "base")
    head_repo = _text(_field(head, "repo"), "full_name")
    repository = env.get("GITHUB_REPOSITORY", "")
    return PullRequestEvent(
        number=number,
        head_sha=_text(head, "sha") or env.get("GITHUB_SHA", ""),
        base_ref=(
            _text(base, "ref") or env.get("GITHUB_BASE_REF") or env.get("LEPTONCI_BASE_REF", "")
        ),
        base_sha=_text(base, "sha"),
        from_fork=bool(head_repo and repository and head_repo != repository),
    )


def _field(data: object, key: str) -> Mapping[str, Any]:
    """data[key] when data is a mapping and that is one too, else {}."""
    value = data.get(key) if isinstance(data, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _text(data: Mapping[str, Any], key: str) -> str:
    value = data.get(key)
    return value if isinstance(value, str) else ""


def changed_files(ctx: Context, event: PullRequestEvent) -> list[str] | None:
    """Files the PR changes (`git diff --name-only BASE...HEAD`), None when unknown."""
    git = Git(ctx.root, deadlines=ctx.deadlines)
    bases = [event.base_sha, f"origin/{event.base_ref}" if event.base_ref else "", event.base_ref]
    for base in filter(None, bases):
        result = git.run("diff", "--name-only", f"{base}...HEAD", check=False)
        if result.ok:
            return [line for line in result.stdout.splitlines() if line]
    return None


def models_to_gate(config: Config, changed: Sequence[str] | None) -> list[str]:
    """Models whose folder (or leptonci.yaml) is among the changed files; None: all."""
    if changed is None or CONFIG_FILE in changed:
        return list(config.models)
    out = []
    for name, model in config.models.items():
        prefix = model.path.rstrip("/") + "/"
        if any(path == model.path or path.startswith(prefix) for path in changed):
            out.append(name)
    return out


def run(ctx: Context, *, append: Path | None = None) -> int:
    """Gate the changed models, report on the PR; 0 all passed, 1 a gate failed.

    ``append``: a Markdown file the team's workflow wrote (CML-style), added to every
    model's report."""
    config = ctx.config
    extra = read_append(ctx, append)
    settings = settings_from_env(ctx.env)
    event = pull_request_event(ctx.env)
    changed = changed_files(ctx, event)
    models = models_to_gate(config, changed)
    if changed is None:
        ctx.out.info("could not diff against the pull request's base; gating every model")
    elif not models:
        ctx.out.info(f"no model inputs changed in {len(changed)} changed files; nothing to gate")

    reports: list[GateReport] = []
    ledgers: dict[str, Ledger] = {}
    unknown: list[Step] = []
    for model in models:
        with ctx.out.step(f"gate {model}"):
            if ctx.dry_run:
                found = planned_candidate(ctx, model)
            else:
                found = train_model(ctx, model=model, use_cache=True)
            if found is None:  # a dry run without the candidate in the cache
                label = candidate_label(model, model_content_hash(ctx, model))
                unknown.append(
                    Step(
                        summary=f"train {label} (not in the cache): its verdict is unknown "
                        "until it is trained",
                        name="train",
                    )
                )
                continue
            candidate = found
            against = config.reference_env(model).name
            verdict = gate_candidate(ctx, candidate=candidate, against=against)
            ledgers[model] = read_ledger(ctx.root, config.env(against))
            label = candidate_label(model, candidate.content_hash)
            report = _report(ctx, config, model, label, against, candidate, verdict, event)
            baseline = ledgers[model].current_for(model)
            reports.append(
                replace(
                    report,
                    baseline_params=dict(baseline.params) if baseline and baseline.params else None,
                    appendix=extra,
                )
            )
            ctx.out.info(f"{label} against {against}\n{verdict.render_text()}".rstrip("\n"))

    plan = build_report_plan(
        reports,
        ledgers,
        unchanged=[m for m in config.models if m not in models],
        event=event,
        repository=settings.repository if settings else "",
        workflow=ctx.env.get("GITHUB_WORKFLOW", "model-gate"),
        run_url=ctx.run_url,
    )
    if unknown:
        plan = Plan(plan.title, (*unknown, *plan.actions), plan.notes)
    posted = False
    if ctx.dry_run:
        ctx.out.info(plan.render_text().rstrip("\n"))
        for action in plan.actions:  # what a reviewer would read
            if isinstance(action, UpsertComment):
                ctx.out.info(f"\n--- the comment on #{action.number} ---\n{action.body}")
    elif settings is not None and not plan.empty:
        Applier(ctx).apply(plan)
        posted = True
    for note in plan.notes:
        ctx.out.info(note)

    ctx.out.summary(render_summary(reports))
    passed = all(r.verdict.passed for r in reports)
    ctx.out.set_output("gate", "pass" if passed else "fail")
    ctx.out.set_output("verdict", "pass" if passed else "fail")
    for r in reports:
        for check in r.verdict.failed_checks:
            ctx.out.error(f"gate {r.candidate}: {check.text}")
    data = {
        "passed": passed,
        "posted": posted,
        "pull_request": event.number,
        "models": [
            {
                "model": r.model,
                "candidate": r.candidate,
                "against": r.against,
                "verdict": r.verdict.to_dict(),
            }
            for r in reports
        ],
        "plan": plan.to_dict(),
    }
    verdicts = (
        ", ".join(f"{r.model} {'passed' if r.verdict.passed else 'FAILED'}" for r in reports)
        or "nothing gated"
    )
    ctx.out.result(data, text=f"pull-request gate: {verdicts}")
    return 0 if passed else 1


def read_append(ctx: Context, path: Path | None) -> str:
    """The team's Markdown to append to every report ("" without one)."""
    if path is None:
        return ""
    where = path if path.is_absolute() else ctx.root / path
    try:
        return read_text(where)
    except FileNotFoundError:
        raise UsageError(
            f"--append {path}: no such file", hint="write it in an earlier workflow step"
        ) from None


def build_report_plan(
    reports: Sequence[GateReport],
    ledgers: Mapping[str, Ledger],
    *,
    unchanged: Sequence[str] = (),
    event: PullRequestEvent,
    repository: str,
    workflow: str,
    run_url: str,
) -> Plan:
    """The GitHub calls that report the verdicts: a comment and a status per model."""
    plan = Plan("report the model gate on the pull request")
    if not repository:
        return plan.with_note(
            "not running in GitHub Actions (GITHUB_TOKEN or GITHUB_REPOSITORY unset): "
            "the verdict is printed here and nothing is posted"
        )
    if event.from_fork:
        return plan.with_note(
            "pull request from a fork: its token is read-only, so nothing is posted; "
            "the verdict is in the job summary"
        )
    for r in reports:
        marker = gate_marker(r.model, workflow)
        body = render_gate_report(r, marker=marker, ledger=ledgers.get(r.model))
        if event.number is not None:
            plan = plan.then(
                UpsertComment(
                    summary=f"comment on {repository}#{event.number}: gate report for {r.model} "
                    "(update the existing one if any)",
                    repository=repository,
                    number=event.number,
                    marker=marker,
                    body=body,
                )
            )
        if event.head_sha:
            state = "success" if r.verdict.passed else "failure"
            context = gate_context(r.model)
            name = check_run_name(r.model)
            plan = plan.then(
                CreateCheckRun(
                    summary=f"check run {name}={state} on {event.head_sha[:12]} carrying the "
                    "full report",
                    repository=repository,
                    sha=event.head_sha,
                    name=name,
                    conclusion=state,
                    title=f"{r.candidate}: gate {'passed' if r.verdict.passed else 'FAILED'}",
                    summary_text=status_description(r.verdict),
                    text=render_gate_report(
                        r, marker="", ledger=ledgers.get(r.model), limit=65_000
                    ),
                    details_url=run_url or None,
                )
            )
            plan = plan.then(
                SetCommitStatus(
                    summary=f"set status {context}={state} on {event.head_sha[:12]}",
                    repository=repository,
                    sha=event.head_sha,
                    state=state,
                    context=context,
                    description=status_description(r.verdict),
                    target_url=run_url or None,
                )
            )
    for model in unchanged if event.head_sha else ():
        context = gate_context(model)
        plan = plan.then(
            SetCommitStatus(
                summary=f"set status {context}=success on {event.head_sha[:12]} "
                f"({NO_MODEL_CHANGE})",
                repository=repository,
                sha=event.head_sha,
                state="success",
                context=context,
                description=NO_MODEL_CHANGE,
                target_url=run_url or None,
            )
        )
    if event.number is None:
        plan = plan.with_note("no pull request number (GITHUB_REF, GITHUB_EVENT_PATH): no comment")
    return plan


def _report(
    ctx: Context,
    config: Config,
    model: str,
    label: str,
    against: str,
    candidate: Candidate,
    verdict: Verdict,
    event: PullRequestEvent,
) -> GateReport:
    gate = config.model(model).gate
    provenance = {
        "candidate": label,
        "content hash": candidate.content_hash,
        "eval fingerprint": candidate.eval_fingerprint,
        "eval examples": str(candidate.eval_count),
        "params": json.dumps(dict(candidate.params), sort_keys=True),
        "libraries": ", ".join(f"{k} {v}" for k, v in sorted(candidate.versions.items())),
        "trained": "cached" if candidate.cached else "this run",
    }
    if event.head_sha:
        provenance["commit"] = event.head_sha
    if ctx.run_url:
        provenance["workflow run"] = ctx.run_url
    return GateReport(
        model=model,
        candidate=label,
        against=against,
        verdict=verdict,
        metrics=dict(candidate.metrics),
        provenance={k: v for k, v in provenance.items() if v},
        bounds={m: (t.min, t.max) for m, t in gate.items()},
        params=dict(candidate.params),
        precision=config.report.precision,
    )
