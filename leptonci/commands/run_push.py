"""`leptonci run push`: the push-to-main release flow.

For each model whose inputs changed (its content hash differs from the one current in
the first environment): train (cached), gate against the first environment, build and
push the image, pin it in the first environment (commit + push), verify; then carry it
on into every later environment whose policy is ``auto``, and open pull requests for
``pull-request`` ones. A failing gate stops that model before anything is pushed.
With ``--dry-run`` the whole chain is planned on the working tree and printed.
"""

from __future__ import annotations

from typing import Any

from leptonci.core.config import EnvironmentConfig
from leptonci.core.errors import ExitCode, PromotionRefused, RefusedError
from leptonci.core.ledger import ReleaseRecord, Verification
from leptonci.core.plan import Action, Plan, Step
from leptonci.core.release import release_id
from leptonci.engine.deploy import deploy_actions
from leptonci.engine.envfiles import read_worktree
from leptonci.engine.landing import Outcome, Proposal, Reader, land, promote_into
from leptonci.promotion.plans import EnvState, plan_entry, plan_verification, push_actions
from leptonci.runtime.context import Context

UNSETTLED = ("unverified", "pending")  # current releases nobody has verified yet


def release_record(
    *,
    candidate: Any,
    image: str,
    digest: str,
    source_commit: str,
    gated_against: str,
    verdict: Any = None,
) -> ReleaseRecord:
    """The record of a freshly built, gated release (before it enters any environment).

    The verdict keeps what the gate decided on: the baseline release and every check
    with its numbers and thresholds, one line each.
    """
    gate: dict[str, Any] = {"passed": True, "against": gated_against}
    if verdict is not None:
        gate["baseline"] = verdict.baseline_release
        gate["checks"] = [check.text for check in verdict.checks]
    return ReleaseRecord(
        release=release_id(candidate.model, candidate.content_hash),
        model=candidate.model,
        model_hash=candidate.content_hash,
        image=image,
        digest=digest,
        source_commit=source_commit,
        metrics={k: float(v) for k, v in candidate.metrics.items()},
        eval_fingerprint=candidate.eval_fingerprint,
        verdict=gate,
    )


class _Run:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.first = ctx.config.first_env()
        self.actions: list[Action] = []  # the whole chain, for --dry-run
        self.overlay: dict[str, EnvState] = {}  # dry-run: env states after planned steps
        self.failures: list[str] = []

    def note(self, *actions: Action) -> None:
        self.actions.extend(actions)

    def model(self, model: str) -> None:
        ctx, out = self.ctx, self.ctx.out
        from leptonci.pipeline.gate import gate_candidate
        from leptonci.pipeline.train import model_content_hash, train_model

        first_state = self.overlay.get(self.first.name) or read_worktree(ctx.root, self.first)
        current = first_state.ledger.current_for(model)
        key = model_content_hash(ctx, model)
        if current is not None and current.model_hash == key:
            out.info(f"{model}: inputs unchanged since {current.release} in {self.first.name}")
            self.downstream(model)
            return
        release = release_id(model, key)
        self.note(Step(summary=f"train {model} (cached when its inputs are)", name="train"))
        with out.step(f"{model}: train"):
            candidate = train_model(ctx, model=model)
        self.note(Step(summary=f"gate {release} against {self.first.name}", name="gate"))
        with out.step(f"{model}: gate against {self.first.name}"):
            verdict = gate_candidate(ctx, candidate=candidate, against=self.first.name)
            out.info(verdict.render_text().rstrip("\n"))
        if not verdict.passed:
            self.failures.append(f"gate failed for {release}: {verdict.summary_line()}")
            out.error(f"{release}: gate failed; nothing pushed for {model}")
            return
        record = self.build(model, candidate, release, verdict)
        self.enter(record)

    def build(self, model: str, candidate: Any, release: str, verdict: Any) -> ReleaseRecord:
        from leptonci.pipeline.build import build_image, model_source, push_image

        ctx = self.ctx
        source = model_source(ctx, model)
        with ctx.out.step(f"{model}: build image"):
            build = build_image(
                ctx, candidate=candidate, release=release, verdict="passed", source=source
            )
        self.note(*build.plan.actions)
        if ctx.dry_run:
            # the name manifests pin, and the digest the daemonless builder computed
            image = build.destination.image(build.spec.repository)
            digest = build.digest or "sha256:" + "0" * 64
        else:
            with ctx.out.step(f"{model}: push image"):
                built = push_image(ctx, build)
                sent = "" if built.bytes_sent < 0 else f", {built.bytes_sent} bytes sent"
                ctx.out.info(f"pushed {built.reference} ({built.size} bytes{sent})")
            image, digest = built.image, built.digest
        return release_record(
            candidate=candidate,
            image=image,
            digest=digest,
            source_commit=source.commit,
            gated_against=self.first.name,
            verdict=verdict,
        )

    def enter(self, record: ReleaseRecord) -> None:
        ctx, env = self.ctx, self.first
        at, actor = ctx.now(), ctx.actor

        def propose(read: Reader) -> Proposal:
            change = plan_entry(ctx.config, target=read(env), record=record, actor=actor, at=at)
            push = (
                ()
                if change.noop
                else push_actions(ctx.config, env=env, release=None, pull_request=False)
                + deploy_actions(ctx, env, releases=[record.release])
            )
            return Proposal(f"release {record.release} into {env.name}", (change,), push)

        with ctx.out.step(f"{record.model}: promote {record.release} into {env.name}"):
            try:
                outcome = land(ctx, propose, paths=[env.path], overlay=self.overlay)
            except PromotionRefused as exc:
                self.failures.append(str(exc))
                ctx.out.error(str(exc))
                return
            self.landed(env, outcome)
        if self.verify(env, record.model, outcome):
            self.downstream(record.model)

    def reconcile(self) -> None:
        """Settle releases that reached main without being verified, in pipeline order.

        A pull-request promotion lands when a human merges it, and a run can die between
        its commit and its verification; either leaves the ledger's current release
        "unverified". For each such environment with a cluster: apply it (``direct``),
        open its GitHub deployment, verify and record, rolling back on failure where the
        environment says ``rollback: auto``, exactly as after a direct promotion.
        """
        for env in self.ctx.config.ordered_envs():
            if env.cluster is not None:
                self.settle(env)

    def settle(self, env: EnvironmentConfig) -> None:
        ctx = self.ctx
        models: list[str] = []

        def propose(read: Reader) -> Proposal:
            ledger = read(env).ledger
            models[:] = [
                m
                for m, record in ledger.current.items()
                if m in ctx.config.models and record.verification.result in UNSETTLED
            ]
            releases = [ledger.current[m].release for m in models]
            return Proposal(f"settle {env.name}", (), deploy_actions(ctx, env, releases=releases))

        outcome = land(ctx, propose, paths=[env.path], overlay=self.overlay)
        if not models:
            return
        with ctx.out.step(f"settle {', '.join(models)} in {env.name}"):
            ctx.out.info(f"{env.name}: {', '.join(models)} landed unverified; settling it")
            self.landed(env, outcome)
        for model in models:
            self.verify(env, model, outcome)

    def downstream(self, model: str) -> None:
        """Carry the model on: auto environments in order, then pull-request ones."""
        envs = [e for e in self.ctx.config.ordered_envs() if e.upstream is not None]
        for env in [e for e in envs if e.policy == "auto"] + [
            e for e in envs if e.policy == "pull-request"
        ]:
            with self.ctx.out.step(f"{model}: promote into {env.name} ({env.policy})"):
                try:
                    outcome = promote_into(
                        self.ctx,
                        env=env,
                        release=None,
                        model=model,
                        automatic=True,
                        overlay=self.overlay,
                    )
                except PromotionRefused as exc:
                    self.ctx.out.info(f"{env.name}: not promoting {model}: {exc}")
                    continue
                self.landed(env, outcome)
            if env.policy == "auto" and not self.verify(env, model, outcome):
                return

    def landed(self, env: EnvironmentConfig, outcome: Outcome) -> None:
        ctx = self.ctx
        plan = outcome.plan
        if ctx.dry_run:
            self.note(*plan.actions)
            for change in outcome.changes:
                self.overlay[change.env] = change.state
            return
        if plan.empty:
            ctx.out.info("; ".join(c.message for c in outcome.changes) or "nothing to do")
            return
        ctx.out.info(plan.render_text().rstrip("\n"))
        ctx.out.summary(plan.render_markdown())
        if outcome.pull_request:
            ctx.out.set_output(f"pull_request_{env.name}", outcome.pull_request)

    def verify(self, env: EnvironmentConfig, model: str, outcome: Outcome) -> bool:
        """Verify env (a real run), or assume success (dry run); False stops the chain."""
        if self.ctx.dry_run:
            if env.cluster is None:
                return True
            self.note(
                Step(summary=f"verify {model} in {env.name}; record the result", name="verify")
            )
            state = self.overlay.get(env.name) or read_worktree(self.ctx.root, env)
            if state.ledger.current_for(model) is not None:
                assumed = Verification(
                    "verified", self.ctx.now(), "dry run: assumes the rollout succeeds"
                )
                self.overlay[env.name] = plan_verification(
                    state, model=model, verification=assumed
                ).state
            return True
        from leptonci.engine.settling import verify_after

        try:
            verify_after(self.ctx, env=env, model=model, deployment_id=outcome.deployment_id)
        except RefusedError as exc:
            self.failures.append(str(exc))
            self.ctx.out.error(str(exc))
            return False
        return True


def run_push(ctx: Context) -> int:
    run = _Run(ctx)
    run.reconcile()
    for model in ctx.config.models:
        run.model(model)
    if ctx.dry_run:
        plan = Plan("run push", tuple(run.actions))
        text = plan.render_text() + "dry run: nothing was written\n"
        ctx.out.result({"dry_run": True, "plan": plan.to_dict(), "failures": run.failures}, text)
    else:
        from leptonci.engine.status import collect_status, render_status

        rows = collect_status(ctx)
        ctx.out.result(
            {"dry_run": False, "status": [r.to_dict() for r in rows], "failures": run.failures},
            render_status(rows, live=False),
        )
    for failure in run.failures:
        ctx.out.error(failure)
    return int(ExitCode.NO) if run.failures else 0
