"""Fuzz commit trailers: `history --from-git` on hand-written or cut trailer blocks.

A block that is not a whole record is skipped, never a crash: the history command
shows what the commits that are whole say.
"""

from __future__ import annotations

import json
from dataclasses import replace

from hypothesis import given
from hypothesis import strategies as st

from leptonci.core.ledger import Verification, empty_ledger, render_ledger
from leptonci.core.trailers import (
    CommitTrailers,
    history_from_commits,
    parse_trailers,
    record_trailers,
    verification_trailers,
)
from tests.fuzz.mutate import VALUES, as_text, mutated_bytes, mutated_text
from tests.fuzz.outcome import fuzz_settings, outcome
from tests.fuzz.test_ledger import _record

RECORD = _record(1, "digits")
PROMOTE = "\n".join(f"{k}: {v}" for k, v in record_trailers("promote", "dev", RECORD))
VERIFY = "\n".join(
    f"{k}: {v}" for k, v in verification_trailers("dev", RECORD, Verification("failed", "x", "y"))
)
JSON_KEYS = ("Leptonci-Metrics", "Leptonci-Checks")


def _history(blocks: list[str]) -> None:
    commits = [
        CommitTrailers(f"{i:040x}", parse_trailers(b.splitlines())) for i, b in enumerate(blocks)
    ]
    for record in history_from_commits("dev", commits):
        render_ledger(empty_ledger("dev").with_release(record))  # a ledger rebuilt from git


def test_the_seed_replays() -> None:
    commits = [CommitTrailers("a" * 40, parse_trailers(PROMOTE.splitlines()))]
    assert history_from_commits("dev", commits) == [replace(RECORD, params={})]


@st.composite
def json_values(draw: st.DrawFn) -> str:
    """The promote block with Metrics or Checks holding other JSON."""
    key = draw(st.sampled_from(JSON_KEYS))
    value = json.dumps(draw(VALUES))
    return "\n".join(
        f"{k}: {value}" if k == key else line
        for line in PROMOTE.splitlines()
        for k in [line.partition(":")[0]]
    )


BLOCKS = st.one_of(
    json_values(),
    mutated_text(PROMOTE),
    mutated_text(VERIFY),
    mutated_bytes(PROMOTE.encode()).map(as_text),
)


@fuzz_settings(500)
@given(st.lists(BLOCKS | st.sampled_from([PROMOTE, VERIFY]), min_size=1, max_size=3))
def test_trailer_blocks(blocks: list[str]) -> None:
    assert outcome("trailers", lambda: _history(blocks)) == "ok"
