from __future__ import annotations

import pytest

from leptonci.core.errors import ConfigError
from leptonci.core.ledger import (
    Hold,
    Quarantine,
    ReleaseRecord,
    Verification,
    empty_ledger,
    parse_ledger,
    render_ledger,
)


def record(n: int, model: str = "digits") -> ReleaseRecord:
    return ReleaseRecord(
        release=f"{model}-{n:012x}",
        model=model,
        model_hash=f"sha256:{n:064x}",
        image="127.0.0.1:5000/ns/digits",
        digest=f"sha256:{n + 100:064x}",
        metrics={"accuracy": 0.9 + n / 1000},
        verdict={"passed": True},
        at="2026-11-30T10:00:00Z",
        by="ci",
    )


def test_round_trip_keeps_everything() -> None:
    ledger = (
        empty_ledger("dev")
        .with_release(record(1))
        .with_release(record(2))
        .with_verification("digits", Verification("verified", "2026-11-30T10:01:00Z", "3/3"))
        .with_hold(Hold("rollback", "2026-11-30T10:02:00Z", "alice"))
        .with_quarantine(Quarantine(record(2).digest, record(2).release, "crash-loop"))
    )
    text = render_ledger(ledger)
    assert text.startswith("# leptonci ledger for environment dev.")
    again = parse_ledger(text, file="ledger.yaml")
    assert again == ledger
    assert render_ledger(again) == text


def test_history_is_bounded_and_newest_first() -> None:
    ledger = empty_ledger("dev", history_limit=3)
    for n in range(1, 7):
        ledger = ledger.with_release(record(n))
    assert ledger.current_for("digits") == record(6)
    assert [r.release for r in ledger.history] == [record(n).release for n in (5, 4, 3)]


def test_previous_skips_quarantined_and_same_digest() -> None:
    ledger = empty_ledger("dev").with_release(record(1)).with_release(record(2))
    ledger = ledger.with_release(record(3)).with_quarantine(Quarantine(record(2).digest))
    prev = ledger.previous_for("digits")
    assert prev is not None and prev.release == record(1).release
    assert ledger.without_quarantine(record(2).digest).previous_for("digits") == record(2)


def test_models_are_independent() -> None:
    ledger = empty_ledger("dev").with_release(record(1)).with_release(record(2, "iris"))
    assert set(ledger.current) == {"digits", "iris"}
    assert ledger.history == ()


@pytest.mark.parametrize("text", ["- a\n", "environment: [\n", "current: {}\n"])
def test_malformed_ledgers_are_config_errors(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_ledger(text, file="environments/dev/ledger.yaml")
    assert "environments/dev/ledger.yaml" in str(info.value)
