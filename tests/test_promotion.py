"""The pure promotion planner: refusals, no-ops, force, quarantine, hold, rollback targets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from leptonci.core.actions import GitCommit, WriteFile
from leptonci.core.config import Config, load_config
from leptonci.core.errors import ConfigError, PromotionRefused, UsageError
from leptonci.core.ledger import Hold, Ledger, Quarantine, ReleaseRecord, Verification, parse_ledger
from leptonci.core.trailers import parse_trailers, record_from_trailers
from leptonci.engine.envfiles import state_from_files
from leptonci.manifests import ImageTarget, edit_folder
from leptonci.promotion.plans import (
    plan_entry,
    plan_promotion,
    plan_resume,
    plan_rollback,
    plan_unblock,
    plan_verification,
)
from leptonci.promotion.rules import stale_promotion
from leptonci.promotion.state import EnvState
from tests.fixtures.git_repo import fake_record

REPO = Path(__file__).resolve().parent.parent
AT = "2026-01-02T03:04:05Z"
VERIFIED = Verification("verified", AT, "rolled out")


@pytest.fixture(scope="module")
def config() -> Config:
    return load_config(REPO)


def state(config: Config, env: str, ledger: Ledger | None = None) -> EnvState:
    where = config.env(env)
    folder = REPO / where.path
    files = {f"{where.path}/{p.name}": p.read_text() for p in folder.iterdir() if p.is_file()}
    base = state_from_files(where, files)
    return base if ledger is None else replace(base, ledger=ledger)


def with_current(config: Config, env: str, *records: ReleaseRecord, **kw: object) -> EnvState:
    """env with records current in its ledger and pinned in its manifests, as a landed
    promotion leaves it."""
    base = state(config, env)
    ledger, files = base.ledger, dict(base.files)
    for record in records:
        ledger = ledger.with_release(record)
        image = ImageTarget(
            name=config.image_name(record.model),
            new_name=record.image,
            tag=record.release,
            digest=record.digest,
        )
        files.update(edit_folder(files, image))
    return replace(base, files=files, ledger=replace(ledger, **kw))  # type: ignore[arg-type]


R1 = fake_record(seed="1", verification=VERIFIED)
R2 = fake_record(seed="2", verification=VERIFIED)
UNVERIFIED = fake_record(seed="3")
FAILED = fake_record(seed="4", verification=Verification("failed", AT, "crash loop"))
SKIPPED = fake_record(seed="5", verification=Verification("skipped", AT, "no cluster"))


@pytest.mark.parametrize(
    ("upstream", "target", "release", "force", "reason", "automatic", "expect"),
    [
        # (upstream records, target kwargs, release, force, reason, automatic, expected)
        ([R1], {}, None, False, "", False, "promote"),
        ([SKIPPED], {}, None, False, "", False, "promote"),
        ([UNVERIFIED], {}, None, False, "", False, "refused:not verified"),
        ([FAILED], {}, None, False, "", False, "refused:not verified"),
        ([FAILED], {}, None, True, "hotfix", False, "force"),
        ([R1, R2], {}, R1.release, False, "", False, "refused:not current"),
        ([R1, R2], {}, R1.release, True, "pin old", False, "force"),
        ([R1], {}, "digits-000000000000", False, "", False, "refused:never in"),
        ([R1], {}, None, True, "", False, "usage:--reason"),
        ([R1], {"current": [R1]}, None, False, "", False, "noop"),
        (
            [R1],
            {"quarantine": (Quarantine(R1.digest, R1.release),)},
            None,
            True,
            "x",
            False,
            "refused:leptonci unblock staging",
        ),
        (
            [R1],
            {"holds": (Hold("rollback"),)},
            None,
            False,
            "",
            True,
            "refused:leptonci resume staging",
        ),
        (
            [R1],
            {"holds": (Hold("rollback"),)},
            None,
            False,
            "",
            False,
            "refused:leptonci resume staging",
        ),
        ([R1], {"holds": (Hold("rollback"),)}, None, True, "fix", False, "force"),
        ([R1], {"holds": (Hold("rollback"),)}, None, True, "fix", True, "refused:on hold"),
    ],
)
def test_promotion_rules(
    config: Config,
    upstream: list[ReleaseRecord],
    target: dict[str, object],
    release: str | None,
    force: bool,
    reason: str,
    automatic: bool,
    expect: str,
) -> None:
    up = with_current(config, "dev", *upstream)
    current = target.pop("current", [])
    tgt = with_current(config, "staging", *current, **target)  # type: ignore[arg-type]
    kwargs = dict(
        target=tgt,
        upstream=up,
        model="digits",
        release=release,
        force=force,
        reason=reason,
        automatic=automatic,
        actor="tester",
        at=AT,
    )
    if expect.startswith(("refused:", "usage:")):
        kind, text = expect.split(":", 1)
        with pytest.raises(PromotionRefused if kind == "refused" else UsageError) as info:
            plan_promotion(config, **kwargs)  # type: ignore[arg-type]
        assert text in str(info.value)
        return
    change = plan_promotion(config, **kwargs)  # type: ignore[arg-type]
    if expect == "noop":
        assert change.noop and "already current" in change.message
        return
    record = change.state.ledger.current_for("digits")
    assert record is not None and record.action == expect
    assert record.from_env == "dev" and record.at == AT and record.by == "tester"
    assert record.reason == reason
    writes = [a for a in change.actions if isinstance(a, WriteFile)]
    assert {w.path for w in writes} == {
        "environments/staging/ledger.yaml",
        "environments/staging/model.yaml",
    }
    assert all(w.path.startswith("environments/staging/") for w in writes)
    commit = change.actions[-1]
    assert isinstance(commit, GitCommit) and commit.paths == ("environments/staging",)
    assert record.digest in next(w.new for w in writes if w.path.endswith("model.yaml"))
    ledger = parse_ledger(writes[-1].new, file="ledger.yaml")
    assert ledger.current_for("digits") == record
    # the trailers alone give back the same record
    assert record_from_trailers(parse_trailers(f"{k}: {v}" for k, v in commit.trailers)) == record


def test_entry_without_cluster_counts_as_verified(config: Config) -> None:
    change = plan_entry(config, target=state(config, "dev"), record=R1, actor="ci", at=AT)
    record = change.state.ledger.current_for("digits")
    assert record is not None and record.verification.result == "skipped"
    assert record.from_env is None and record.action == "promote"


@pytest.mark.parametrize(
    ("history", "quarantined", "to", "expect"),
    [
        (["1"], [], None, "1"),
        (["1", "2"], [], None, "2"),  # newest earlier one
        (["1", "2"], ["2"], None, "1"),  # quarantined ones are skipped
        (["1", "2"], [], "1", "1"),
        (["1", "2"], ["1"], "1", "refused:quarantined"),
        ([], [], None, "refused:no earlier release"),
        (["1"], [], "digits-000000000000", "refused:never in"),
        (["1"], [], "3", "refused:what dev runs now"),
    ],
)
def test_rollback_target(
    config: Config, history: list[str], quarantined: list[str], to: str | None, expect: str
) -> None:
    records = [fake_record(seed=s) for s in [*history, "3"]]
    by_seed = dict(zip([*history, "3"], records, strict=True))
    target = with_current(
        config,
        "dev",
        *records,
        quarantine=tuple(Quarantine(by_seed[s].digest, by_seed[s].release) for s in quarantined),
    )
    wanted = by_seed[to].release if to in by_seed else to
    if expect.startswith("refused:"):
        with pytest.raises(PromotionRefused) as info:
            plan_rollback(
                config, target=target, model="digits", to=wanted, reason="bad", actor="t", at=AT
            )
        assert expect.split(":", 1)[1] in str(info.value)
        return
    change = plan_rollback(
        config, target=target, model="digits", to=wanted, reason="bad", actor="t", at=AT
    )
    ledger = change.state.ledger
    current = ledger.current_for("digits")
    assert current is not None and current.release == by_seed[expect].release
    assert current.action == "rollback" and current.reason == "bad"
    assert ledger.is_quarantined(by_seed["3"].digest)
    assert ledger.held and "rollback of" in ledger.holds[-1].reason
    assert change.before == by_seed["3"].release and change.after == current.release


def test_unblock_resume_and_verification(config: Config) -> None:
    target = with_current(
        config, "dev", R1, quarantine=(Quarantine(R2.digest, R2.release),), holds=(Hold("x"),)
    )
    assert not plan_unblock(target, what=R2.release, actor="t", at=AT).state.ledger.quarantine
    assert not plan_unblock(target, what=R2.digest, actor="t", at=AT).state.ledger.quarantine
    nothing = plan_unblock(target, what="sha256:nope", actor="t", at=AT)
    assert nothing.noop and "nothing quarantined in dev matches sha256:nope" in nothing.message
    assert not plan_resume(target, actor="t", at=AT).state.ledger.held
    assert plan_resume(with_current(config, "dev", R1), actor="t", at=AT).noop
    change = plan_verification(target, model="digits", verification=FAILED.verification)
    record = change.state.ledger.current_for("digits")
    assert record is not None and record.verification.result == "failed"
    assert plan_verification(target, model="digits", verification=VERIFIED).noop


def test_a_release_current_in_the_ledger_but_not_pinned_is_no_noop(config: Config) -> None:
    # the ledger says R1 runs in staging, its manifests still say otherwise: not "nothing
    # to do" but a stop that names the folder (exit 2)
    target = state(config, "staging", state(config, "staging").ledger.with_release(R1))
    with pytest.raises(ConfigError, match="environments/staging do not pin") as err:
        plan_promotion(
            config,
            target=target,
            upstream=with_current(config, "dev", R1),
            model="digits",
            actor="t",
            at=AT,
        )
    assert err.value.exit_code == 2


# -- a promotion opened (or merged) earlier, judged against its upstream now ----------
HELD = (Hold("manual rollback", AT, "ops"),)
QUARANTINED_R2 = (Quarantine(R2.digest, R2.release, "crash loop", AT, "ops"),)


@pytest.mark.parametrize(
    ("upstream", "target", "record", "expect"),
    [
        ({"records": [R2]}, {}, None, None),
        ({"records": [R2]}, {}, replace(R2, action="promote"), None),
        ({"records": [R1, R2]}, {}, None, None),  # R2 entered after R1: still current
        ({"records": [R2, R1]}, {}, None, f"{R2.release} is not current in staging"),
        ({"records": [R2], "quarantine": QUARANTINED_R2}, {}, None, "is quarantined in staging"),
        ({"records": [R2]}, {"quarantine": QUARANTINED_R2}, None, "is quarantined in prod"),
        ({"records": [R2]}, {"holds": HELD}, None, "prod is on hold (manual rollback)"),
        ({"records": [replace(R2, verification=Verification())]}, {}, None, "is not verified"),
        ({"records": []}, {}, None, f"release {R2.release} was never in staging"),
        # forced: upstream's current release and a hold do not make it stale; quarantine does
        ({"records": [R2, R1]}, {"holds": HELD}, replace(R2, action="force"), None),
        (
            {"records": [R2]},
            {"quarantine": QUARANTINED_R2},
            replace(R2, action="force"),
            "quarantined in prod",
        ),
        ({"records": [R1]}, {}, replace(R2, action="rollback"), None),  # a restore: never
    ],
)
def test_stale_promotion(
    config: Config,
    upstream: dict[str, object],
    target: dict[str, object],
    record: ReleaseRecord | None,
    expect: str | None,
) -> None:
    records: list[ReleaseRecord] = upstream["records"]  # type: ignore[assignment]
    rest = {k: v for k, v in upstream.items() if k != "records"}
    up = with_current(config, "staging", *records, **rest)
    into = with_current(config, "prod", **target)
    found = stale_promotion(R2.release, target=into, upstream=up, record=record)
    if expect is None:
        assert found is None
    else:
        assert found is not None and expect in found
