"""The subprocess funnel: what a failure carries, what is redacted, what is inherited."""

from __future__ import annotations

import os
import sys

import pytest

from leptonci.adapters import proc
from leptonci.core.errors import CommandFailed
from leptonci.core.redact import register_secret

SECRET = "proc-secret-0123456789"

NOISY = f"""
import sys
for n in range(1, 21):
    print(f"out {{n}}")
    print(f"err {{n}}", file=sys.stderr)
print("token {SECRET}", file=sys.stderr)
sys.exit(3)
"""


def test_a_failure_carries_command_code_and_the_whole_redacted_output() -> None:
    register_secret(SECRET)
    with pytest.raises(CommandFailed) as info:
        proc.run([sys.executable, "-c", NOISY, SECRET])
    exc = info.value
    assert exc.returncode == 3
    assert exc.command.endswith(" ***") and SECRET not in exc.command
    assert exc.stdout.splitlines() == [f"out {n}" for n in range(1, 21)]
    assert exc.stderr.splitlines()[:20] == [f"err {n}" for n in range(1, 21)]
    assert exc.stderr.splitlines()[20] == "token ***"
    # the message shows only the tails
    assert exc.message.startswith(f"`{exc.command}` exited 3; stdout: out 9 | out 10 |")
    assert "out 8 " not in exc.message and "err 9 |" not in exc.message
    assert exc.message.endswith("err 20 | token ***")
    assert SECRET not in str(exc)


def test_a_missing_command_has_no_exit_code() -> None:
    with pytest.raises(CommandFailed) as info:
        proc.run(["leptonci-no-such-command", "--flag"])
    assert info.value.returncode is None
    assert info.value.command == "leptonci-no-such-command --flag"
    assert info.value.hint == "install it or put it on PATH"


def test_unset_removes_inherited_variables_and_env_adds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEPTONCI_TEST_INHERITED", "parent")
    monkeypatch.setenv("LEPTONCI_TEST_KEPT", "kept")
    show = "import os; print(os.environ.get('LEPTONCI_TEST_INHERITED'), os.environ['{}'])"
    out = proc.run(
        [sys.executable, "-c", show.format("LEPTONCI_TEST_KEPT")],
        unset=["LEPTONCI_TEST_INHERITED"],
    ).stdout
    assert out.split() == ["None", "kept"]
    out = proc.run(
        [sys.executable, "-c", show.format("LEPTONCI_TEST_ADDED")],
        env={"LEPTONCI_TEST_ADDED": "added"},
        unset=["LEPTONCI_TEST_INHERITED"],
    ).stdout
    assert out.split() == ["None", "added"]
    assert os.environ["LEPTONCI_TEST_INHERITED"] == "parent"  # only the child lost it
