"""`history --from-git` in a shallow clone: refused rather than silently cut, and
``--deepen`` fetches the rest of the history first."""

from __future__ import annotations

import json

import pytest

from leptonci.commands.history import history_from_git
from leptonci.commands.history import run as history_command
from leptonci.core.errors import UsageError
from tests.fixtures.git_repo import Clone, enter_release, fake_record, git


@pytest.fixture
def shallow_clone(example_clone: Clone) -> Clone:
    """A depth-2 clone of a remote whose dev took four releases."""
    for seed in "1234":
        enter_release(example_clone, fake_record(seed=seed))
    dest = example_clone.root.parent / "shallow"
    git(
        dest.parent, "clone", "--quiet", "--depth", "2", f"file://{example_clone.remote}", str(dest)
    )
    return Clone(dest, example_clone.remote)


def test_a_shallow_clone_is_refused_instead_of_cut(shallow_clone: Clone) -> None:
    with pytest.raises(UsageError, match="shallow clone") as err:
        history_command(shallow_clone.ctx(), env="dev", from_git=True, limit=None)
    assert err.value.exit_code == 2 and "--deepen" in (err.value.hint or "")


def test_deepen_fetches_the_whole_history(shallow_clone: Clone, example_clone: Clone) -> None:
    ctx = shallow_clone.ctx(json=True)
    assert history_command(ctx, env="dev", from_git=True, limit=None, deepen=True) == 0
    doc = json.loads(ctx.out.stdout.getvalue())  # type: ignore[attr-defined]
    assert len(doc["history"]) == 4
    assert history_from_git(shallow_clone.ctx(), env="dev") == history_from_git(
        example_clone.ctx(), env="dev"
    )
    assert shallow_clone.git("rev-parse", "--is-shallow-repository") == "false"


def test_deepen_goes_with_from_git(example_clone: Clone) -> None:
    with pytest.raises(UsageError, match="--deepen goes with --from-git"):
        history_command(example_clone.ctx(), env="dev", from_git=False, limit=None, deepen=True)
