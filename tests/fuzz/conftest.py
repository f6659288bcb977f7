"""The fuzz tests' summary: how each parser's cases ended (printed by `make fuzz`)."""

from __future__ import annotations

from typing import Any

from tests.fuzz.outcome import TALLY


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not TALLY:
        return
    terminalreporter.section("fuzz outcomes per parser")
    for parser, counts in sorted(TALLY.items()):
        endings = ", ".join(f"{kind} {n}" for kind, n in counts.most_common())
        terminalreporter.write_line(f"{parser}: {sum(counts.values())} cases: {endings}")
