"""Every skip goes through `tests.services.require`: skipped locally, failed in CI.

A plain ``pytest.skip``, ``skipif`` or ``importorskip``, or a test reading
LEPTONCI_REQUIRE_SERVICES itself, would let CI pass without running the test.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.services import require

TESTS = Path(__file__).resolve().parent
RULE = TESTS / "services.py"
BYPASS = re.compile(r"pytest\.skip\(|\.skipif\(|importorskip\(|LEPTONCI_REQUIRE_SERVICES\"\)")


def test_no_test_skips_around_the_rule() -> None:
    found = [
        f"{path.relative_to(TESTS)}:{n}: {line.strip()}"
        for path in sorted(TESTS.rglob("*.py"))
        if path not in (RULE, Path(__file__))
        for n, line in enumerate(path.read_text().splitlines(), 1)
        if BYPASS.search(line)
    ]
    assert not found, "skip with tests.services.require instead:\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("ci", "stop"), [("1", pytest.fail.Exception), ("", pytest.skip.Exception)]
)
def test_the_rule_fails_in_ci_and_skips_elsewhere(
    ci: str, stop: type[BaseException], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LEPTONCI_REQUIRE_SERVICES", ci)
    with pytest.raises(stop, match="registry unavailable: not installed"):
        require("registry", "not installed")
