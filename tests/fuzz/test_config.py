"""Fuzz leptonci.yaml: the config loader and every check `validate` runs on it."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given

from leptonci.core.config import check_config
from tests.fuzz.mutate import as_text, documents
from tests.fuzz.outcome import fuzz_settings, outcome

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = (REPO / "leptonci.yaml").read_text()
# The README's config reference: every key there is, a kubernetes train section too.
README = (REPO / "README.md").read_text()
REFERENCE = README.split("```yaml\n", 1)[1].split("```\n", 1)[0]


def _load(text: str) -> None:
    config, errors = check_config(text, file="leptonci.yaml", root=REPO)
    if errors:
        raise errors[0]
    assert config is not None
    # what commands read next, once the config loaded
    for env in config.ordered_envs():
        config.downstream(env.name)
        _ = env.require.kinds if env.require else ()
    for name in config.models:
        config.image_name(name)
        config.image_repository(name)
        config.reference_env(name)


def test_the_seeds_are_valid() -> None:
    assert outcome("leptonci.yaml", lambda: _load(EXAMPLE)) == "ok"
    assert outcome("leptonci.yaml", lambda: _load(REFERENCE)) == "ok"


@fuzz_settings(600)
@given(documents(EXAMPLE))
def test_example_config(data: bytes) -> None:
    outcome("leptonci.yaml", lambda: _load(as_text(data)), file="leptonci.yaml", line=True)


@fuzz_settings(400)
@given(documents(REFERENCE))
def test_reference_config(data: bytes) -> None:
    outcome("leptonci.yaml", lambda: _load(as_text(data)), file="leptonci.yaml", line=True)
