"""`leptonci run push`: the push-to-main release flow.

First it closes the promotion pull requests that went stale upstream and settles
releases that reached main unverified (a merged promotion pull request; one that was
stale when it merged is refused). Then, for each model whose inputs changed (its content hash differs from the
one current in the first environment on the remote tip): train (cached), gate against
the first environment, build and push the image, pin it in the first environment
(commit + push), verify; then carry it on into every later environment whose policy is
``auto``, and open pull requests for ``pull-request`` ones. A failing gate stops that
model before anything is pushed; the refusals of ``engine.preflight`` (dirty inputs, a
hold, a quarantined id) come before training. With ``git.land: pull-request`` (a
protected main) a change that GitHub does not merge at once stops that model's chain:
its merge starts the next run, which settles it and carries on.

``--dry-run`` plans the same chain without training, writing or pushing: a candidate
that is not in the cache is "unknown until trained", and a chain stops at the first
environment with a cluster ("promotions follow once it verifies"), since what comes
next depends on the cluster's answer. The JSON document's ``plan`` lists the actions,
planned (dry run) or applied (real run), in the same form.
"""

from __future__ import annotations

import time

from leptonci.core.actions import Action, OpenPullRequest, Step
from leptonci.core.attestation import Evidence
from leptonci.core.candidate import Candidate
from leptonci.core.config import EnvironmentConfig
from leptonci.core.errors import ExitCode, PromotionRefused, RefusedError
from leptonci.core.gate import Verdict
from leptonci.core.ledger import ReleaseRecord
from leptonci.core.plan import Plan
from leptonci.core.release import release_id
from leptonci.core.training_contract import candidate_label
from leptonci.engine.applier import Applied
from leptonci.engine.landing import Landed, tip_state
from leptonci.engine.pending import close_stale_pulls
from leptonci.engine.preflight import check_release_inputs, refusal
from leptonci.engine.promotions import after_landing, enter_release, promote_into, settle_merged
from leptonci.engine.settling import settle
from leptonci.engine.status import collect_status, render_status
from leptonci.pipeline.attest import attach_attestations, plan_attestations, planned_evidence
from leptonci.pipeline.build import build_image, model_source, push_image, size_text
from leptonci.pipeline.gate import gate_candidate
from leptonci.pipeline.train import model_content_hash, planned_candidate, train_model
from leptonci.promotion.state import EnvState
from leptonci.runtime.context import Context


def release_record(
    *,
    candidate: Candidate,
    image: str,
    digest: str,
    source_commit: str,
    gated_against: str,
    verdict: Verdict,
) -> ReleaseRecord:
    """The record of a freshly built, gated release (before it enters any environment).

    The verdict keeps what the gate decided on: the baseline release and every check
    with its numbers and thresholds, one line each.
    """
    gate: dict[str, object] = {
        "passed": True,
        "against": gated_against,
        "baseline": verdict.baseline_release,
        "checks": [check.text for check in verdict.checks],
    }
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
        params=dict(candidate.params),
        sample=candidate.sample,
    )


class _Run:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.first = ctx.config.first_env()
        self.actions: list[Action] = []  # planned (dry run) or applied, in order
        self.overlay: dict[str, EnvState] = {}  # dry run: env states after planned steps
        self.planned: dict[str, Evidence] = {}  # dry run: attestations planned, by digest
        self.notes: list[str] = []
        self.failures: list[str] = []
        self.released: list[ReleaseRecord] = []  # built, gated and entered this run
        self.verdicts: list[tuple[str, Verdict]] = []  # (release, verdict) gated this run
        self.changed: list[str] = []  # environments whose main changed, in order
        self.pulls: dict[str, str] = {}  # environment -> pull request URL
        self.summaries: list[str] = []  # job summary sections after the headline

    def outputs(self) -> dict[str, str | list[str]]:
        """What the run produced, for $GITHUB_OUTPUT and --json (lists comma-joined there)."""
        verdict = "fail" if any(not v.passed for _, v in self.verdicts) else "pass"
        return {
            "release": [r.release for r in self.released],
            "image": [r.image_ref for r in self.released],
            "digest": [r.digest for r in self.released],
            "environments": list(dict.fromkeys(self.changed)),
            "pull-request": list(self.pulls.values())[-1] if self.pulls else "",
            "verdict": verdict if self.verdicts else "",
        }

    def summary(self) -> str:
        """The job summary: a headline, the gate tables, then what landed."""
        if self.released:
            releases = ", ".join(r.release for r in self.released)
            if self.changed:
                head = f"## leptonci: released {releases} into {', '.join(dict.fromkeys(self.changed))}"
            else:
                waiting = ", ".join(self.pulls) or self.first.name
                head = f"## leptonci: released {releases}; its pull request into {waiting} awaits merge"
        elif self.failures:
            head = f"## leptonci: nothing released ({len(self.failures)} problem(s))"
        elif self.changed:
            head = f"## leptonci: moved {', '.join(dict.fromkeys(self.changed))}"
        else:
            head = "## leptonci: nothing to release (model inputs unchanged)"
        out = [head, ""]
        for release, verdict in self.verdicts:
            out.append(verdict.render_markdown(title=f"Gate {release} against {self.first.name}"))
        for env, url in self.pulls.items():
            out.append(f"- pull request for {env}: {url}")
        if self.pulls:
            out.append("")
        out += [f"> {f}" for f in self.failures]
        out += self.summaries
        return "\n".join(out).rstrip("\n") + "\n"

    def note(self, *actions: Action) -> None:
        self.actions.extend(actions)

    def state(self, env: EnvironmentConfig) -> EnvState:
        return self.overlay.get(env.name) or tip_state(self.ctx, env)

    # -- one model ------------------------------------------------------------------
    def model(self, model: str) -> None:
        ctx, out = self.ctx, self.ctx.out
        current = self.state(self.first).ledger.current_for(model)
        key = model_content_hash(ctx, model)
        if current is not None and current.model_hash == key:
            out.info(f"{model}: inputs unchanged since {current.release} in {self.first.name}")
            self.downstream(model)
            return
        release = release_id(model, key)
        if why := refusal(self.state(self.first).ledger, self.first.name, release=release):
            self.failures.append(why)  # before training: it could not enter anyway
            out.error(why)
            return
        candidate = self.candidate(model, key)
        if candidate is None:
            return
        self.note(Step(summary=f"gate {release} against {self.first.name}", name="gate"))
        with out.step(f"{model}: gate against {self.first.name}"):
            verdict = gate_candidate(ctx, candidate=candidate, against=self.first.name)
            out.info(verdict.render_text().rstrip("\n"))
        self.verdicts.append((release, verdict))
        if not verdict.passed:
            self.failures.append(f"gate failed for {release}: {verdict.summary_line()}")
            out.error(f"{release}: gate failed; nothing pushed for {model}")
            return
        record = self.build(model, candidate, release, verdict)
        if record is not None:
            self.enter(record)

    def candidate(self, model: str, key: str) -> Candidate | None:
        label = candidate_label(model, key)
        if self.ctx.dry_run:
            found = planned_candidate(self.ctx, model)
            if found is None:
                self.note(
                    Step(
                        summary=f"train {label} (not in the cache): its gate, image and "
                        "promotions are unknown until it is trained",
                        name="train",
                    )
                )
            else:
                self.note(Step(summary=f"train {model}: cache hit, {label}", name="train"))
            return found
        with self.ctx.out.step(f"{model}: train"):
            candidate = train_model(self.ctx, model=model)
        how = "cache hit" if candidate.cached else "trained"
        self.note(Step(summary=f"train {model}: {how}, {label}", name="train"))
        return candidate

    def build(
        self, model: str, candidate: Candidate, release: str, verdict: Verdict
    ) -> ReleaseRecord | None:
        ctx = self.ctx
        source = model_source(ctx, model)
        with ctx.out.step(f"{model}: build image"):
            build = build_image(
                ctx, candidate=candidate, release=release, verdict="passed", source=source
            )
            attestations = plan_attestations(
                ctx,
                build=build,
                candidate=candidate,
                verdict=verdict,
                gated_against=self.first.name,
                source=source,
            )
        self.note(*build.plan.actions)
        if attestations.note:
            self.notes.append(attestations.note)
        if ctx.dry_run:
            self.note(*attestations.actions)
            if build.digest is None:
                self.notes.append(
                    f"{release}: the image digest is unknown until pushed; pinning it in "
                    f"{self.first.name} and what follows are planned by the real run"
                )
                return None
            image, digest = build.destination.image(build.spec.repository), build.digest
            self.planned[digest] = planned_evidence(attestations, digest)
        else:
            with ctx.out.step(f"{model}: push image"):
                started = time.perf_counter()
                built = push_image(ctx, build)
                took = time.perf_counter() - started
                sent = "" if built.bytes_sent < 0 else f", {size_text(built.bytes_sent)} sent"
                ctx.out.info(
                    f"pushed {built.reference} ({size_text(built.size)}{sent}) in {took:.2f}s"
                )
            if attestations.actions:
                with ctx.out.step(f"{model}: attest {built.reference}"):
                    attached = attach_attestations(ctx, attestations, built)
                    self.note(*attached.actions)
                    ctx.out.info(attached.describe())
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
        with ctx.out.step(f"{record.model}: promote {record.release} into {env.name}"):
            try:
                landed = enter_release(ctx, record, overlay=self.overlay, planned=self.planned)
            except PromotionRefused as exc:
                self.failures.append(str(exc))
                ctx.out.error(str(exc))
                return
            self.landed(env, landed)
        self.released.append(record)
        carry_on, after = self.on_main(env, landed)
        if carry_on and self.verify(env, record.model, after):
            self.downstream(record.model)

    def on_main(self, env: EnvironmentConfig, landed: Landed) -> tuple[bool, Applied | None]:
        """(carry on, what to settle env after); not carrying on while the change waits
        for its pull request to merge (the merge starts the next run)."""
        if self.ctx.dry_run:
            if any(isinstance(a, OpenPullRequest) for a in landed.plan.actions):
                self.notes.append(
                    f"{env.name}: lands when its pull request merges; what follows is planned "
                    "by the run that merge starts"
                )
                return False, None
            return True, None
        on_main, after = after_landing(self.ctx, env=env, landed=landed)
        if not on_main and not landed.plan.empty:
            self.ctx.out.info(f"{env.name}: waiting for its pull request to merge")
            return False, None
        if on_main:
            self.changed.append(env.name)
        return True, after

    # -- the environments after the first -----------------------------------------
    def reconcile(self) -> None:
        """Close stale promotion pull requests; settle releases that reached main without
        being verified, in pipeline order (refusing a promotion that merged stale).

        A pull-request promotion lands when a human merges it, and a run can die between
        its commit and its verification; either leaves the ledger's current release
        "unverified". For each such environment with a cluster: apply it (``direct``),
        open its GitHub deployment, verify and record, rolling back on failure where the
        environment says ``rollback: auto``, exactly as after a direct promotion.
        """
        self.note(*close_stale_pulls(self.ctx, state_of=self.state))
        for env in self.ctx.config.ordered_envs():
            if env.cluster is None:
                continue
            try:
                landed = settle_merged(self.ctx, env=env, overlay=self.overlay)
            except PromotionRefused as exc:  # a stale promotion merged: never settle it
                self.failures.append(str(exc))
                self.ctx.out.error(str(exc))
                continue
            if not landed.models:
                continue
            models = ", ".join(landed.models)
            with self.ctx.out.step(f"settle {models} in {env.name}"):
                self.ctx.out.info(f"{env.name}: {models} landed unverified; settling it")
                self.landed(env, landed)
            ledger = self.state(env).ledger
            for model in landed.models:
                record = ledger.current_for(model)
                # a merged rollback restores what ran before: never roll it back in turn
                again = record is None or record.action != "rollback"
                self.verify(env, model, landed.applied, may_roll_back=again)

    def downstream(self, model: str) -> None:
        """Carry the model on: auto environments in order, then pull-request ones."""
        envs = [e for e in self.ctx.config.ordered_envs() if e.upstream is not None]
        for env in [e for e in envs if e.policy == "auto"] + [
            e for e in envs if e.policy == "pull-request"
        ]:
            with self.ctx.out.step(f"{model}: promote into {env.name} ({env.policy})"):
                try:
                    landed = promote_into(
                        self.ctx,
                        env=env,
                        release=None,
                        model=model,
                        automatic=True,
                        overlay=self.overlay,
                        planned=self.planned,
                    )
                except PromotionRefused as exc:
                    self.ctx.out.info(f"{env.name}: not promoting {model}: {exc}")
                    continue
                self.landed(env, landed)
            carry_on, after = self.on_main(env, landed)
            if env.policy != "auto":
                continue
            if not carry_on or not self.verify(env, model, after):
                return

    def landed(self, env: EnvironmentConfig, landed: Landed) -> None:
        ctx, plan = self.ctx, landed.plan
        self.note(*(landed.applied.actions if landed.applied else plan.actions))
        if ctx.dry_run:
            for change in landed.changes:
                self.overlay[change.env] = change.state
            self.notes.extend(plan.notes)
            return
        if plan.empty:
            ctx.out.info("; ".join(c.message for c in landed.changes) or "nothing to do")
            return
        ctx.out.info(plan.render_text().rstrip("\n"))
        self.summaries.append(plan.render_markdown(diffs=False))
        if landed.applied is not None and landed.applied.pull_request:
            self.pulls[env.name] = landed.applied.pull_request

    def verify(
        self,
        env: EnvironmentConfig,
        model: str,
        after: Applied | None,
        *,
        may_roll_back: bool = True,
    ) -> bool:
        """Verify env (a real run); False stops the chain. A dry run stops at a cluster:
        what follows depends on its answer."""
        if env.cluster is None:
            settle(self.ctx, env=env, model=model, after=after, may_roll_back=may_roll_back)
            return True
        self.note(Step(summary=f"verify {model} in {env.name}; record the result", name="verify"))
        if self.ctx.dry_run:
            self.notes.append(
                f"{model}: promotions after {env.name} are planned once {env.name} verifies"
            )
            return False
        try:
            settle(self.ctx, env=env, model=model, after=after, may_roll_back=may_roll_back)
        except RefusedError as exc:
            self.failures.append(str(exc))
            self.ctx.out.error(str(exc))
            return False
        return True


def run(ctx: Context) -> int:
    check_release_inputs(ctx)  # before anything is trained, pushed or settled
    flow = _Run(ctx)
    flow.reconcile()
    for model in ctx.config.models:
        flow.model(model)
    plan = Plan("run push", tuple(flow.actions), tuple(flow.notes))
    data: dict[str, object] = {"dry_run": ctx.dry_run, "plan": plan.to_dict()}
    if ctx.dry_run:
        text = plan.render_text() + "dry run: nothing was written\n"
    else:
        rows = collect_status(ctx)
        data["status"] = [r.to_dict() for r in rows]
        text = render_status(rows, live=False)
    data["failures"] = list(flow.failures)
    data.update(flow.outputs())
    if not ctx.dry_run:
        ctx.out.summary(flow.summary())
        for name, value in flow.outputs().items():
            ctx.out.set_output(name, value if isinstance(value, str) else ",".join(value))
        for env, url in flow.pulls.items():
            ctx.out.set_output(f"pull-request-{env}", url)
    ctx.out.result(data, text)
    for failure in flow.failures:
        ctx.out.error(failure)
    return int(ExitCode.NO) if flow.failures else 0
