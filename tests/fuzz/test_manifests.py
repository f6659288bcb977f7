"""Fuzz kustomizations and workload manifests through the manifest editor.

Every golden input (kustomizations, workloads, KServe, Flux setters, anchors, CRLF...)
is mutated and pinned with its golden target: the edit succeeds or names the file and
line, and text it returns is YAML again, in which the pin is found.
"""

from __future__ import annotations

from functools import partial

from hypothesis import given
from hypothesis import strategies as st

from leptonci.commands.validate import check_manifest
from leptonci.core.errors import LeptonError
from leptonci.manifests import ImageTarget, current_image, edit_folder, edit_text
from leptonci.manifests.locate import locate
from tests.fuzz.mutate import as_text, documents
from tests.fuzz.outcome import fuzz_settings, outcome
from tests.manifests.test_golden import CASES, _case

SEEDS = {name: _case(name) for name in CASES}
KUSTOMIZATION = "environments/dev/kustomization.yaml"


def _edit(text: str, target: ImageTarget, path: str) -> None:
    new = edit_text(text, target, path=path)
    if new != text:
        locate(new, path=path)  # an edit never leaves a file that is not YAML
    current_image({path: text}, target.name, new_name=target.new_name)


def test_the_seeds_edit() -> None:
    for source, _, target, path in SEEDS.values():
        assert outcome("manifest", partial(_edit, source, target, path)) == "ok"


def _case_and_data(name: str) -> st.SearchStrategy[tuple[str, bytes]]:
    return st.tuples(st.just(name), documents(SEEDS[name][0]))


@fuzz_settings(800)
@given(st.sampled_from(sorted(SEEDS)).flatmap(_case_and_data))
def test_manifest_edit(case: tuple[str, bytes]) -> None:
    name, data = case
    _, _, target, path = SEEDS[name]
    text = as_text(data)
    outcome("manifest", lambda: _edit(text, target, path), file=path, line=True)


@fuzz_settings(300)
@given(st.sampled_from(sorted(SEEDS)).flatmap(_case_and_data))
def test_folder_edit_as_a_kustomization(case: tuple[str, bytes]) -> None:
    """The same bytes as an overlay's kustomization.yaml: an images: entry may be added."""
    name, data = case
    target = SEEDS[name][2]
    files = {KUSTOMIZATION: as_text(data)}
    outcome("kustomization", lambda: edit_folder(files, target), file=KUSTOMIZATION, line=True)


def _check(text: str, path: str) -> None:
    errors: list[LeptonError] = []
    check_manifest(text, file=path, errors=errors)
    if errors:
        raise errors[0]


@fuzz_settings(400)
@given(st.sampled_from(sorted(SEEDS)).flatmap(_case_and_data))
def test_validate_source_check(case: tuple[str, bytes]) -> None:
    """What `validate` does with each source manifest: parse, then the schema check."""
    name, data = case
    path = SEEDS[name][3]
    outcome("manifest schema", partial(_check, as_text(data), path), file=path, line=True)
