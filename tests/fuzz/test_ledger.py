"""Fuzz ledger.yaml: a hand-edited or merged ledger loads, or names its file."""

from __future__ import annotations

from hypothesis import given

from leptonci.core.ledger import (
    Hold,
    Quarantine,
    ReleaseRecord,
    Verification,
    empty_ledger,
    parse_ledger,
    render_ledger,
)
from tests.fuzz.mutate import as_text, documents
from tests.fuzz.outcome import fuzz_settings, outcome

FILE = "environments/dev/ledger.yaml"


def _record(n: int, model: str) -> ReleaseRecord:
    return ReleaseRecord(
        release=f"{model}-{n:012x}",
        model=model,
        model_hash=f"{n:064x}",
        image=f"localhost:5000/{model}",
        digest=f"sha256:{n:064x}",
        source_commit=f"{n:040x}",
        metrics={"accuracy": 0.9 + n / 100, "loss": 0.1},
        eval_fingerprint="e" * 16,
        verdict={"passed": True, "baseline": None, "checks": ["accuracy 0.91 >= 0.9"]},
        params={"epochs": 3},
        from_env="dev" if n % 2 else None,
        at=f"2026-01-0{n}T00:00:00Z",
        by="ci",
        reason="",
        verification=Verification("verified", "2026-01-01T00:00:01Z", "rolled out"),
    )


def _seed() -> str:
    ledger = empty_ledger("dev")
    for n in (1, 2, 3):
        ledger = ledger.with_release(_record(n, "digits"))
    ledger = ledger.with_release(_record(4, "other"))
    ledger = ledger.with_hold(Hold("incident 12", "2026-01-05T00:00:00Z", "ops"))
    ledger = ledger.with_quarantine(Quarantine(f"sha256:{1:064x}", "digits-1", "bad", "", "ops"))
    return render_ledger(ledger)


SEED = _seed()


def _load(text: str) -> None:
    ledger = parse_ledger(text, file=FILE)
    # a ledger that loads is written back on the next promotion: it must render and
    # read back as the same ledger
    assert parse_ledger(render_ledger(ledger), file=FILE) == ledger


def test_the_seed_is_valid() -> None:
    assert outcome("ledger.yaml", lambda: _load(SEED)) == "ok"


@fuzz_settings(300)
@given(documents(SEED))
def test_ledger(data: bytes) -> None:
    outcome("ledger.yaml", lambda: _load(as_text(data)), file=FILE, line=True)
