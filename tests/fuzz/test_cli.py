"""A few whole-CLI cases: `leptonci validate` on an example repository with one file
mutated (its config, a ledger, a kustomization, a workload manifest).

Exit 0, or exit 2 with every error naming its file and line; never 70; nothing written.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from leptonci import cli
from tests.fuzz.mutate import as_text, documents
from tests.fuzz.outcome import TALLY, fuzz_settings, time_bound

REPO = Path(__file__).resolve().parents[2]
ROOT = Path(tempfile.mkdtemp(prefix="leptonci-fuzz-cli-")) / "repo"
ROOT.mkdir()
shutil.copy(REPO / "leptonci.yaml", ROOT / "leptonci.yaml")
for folder in ("environments", "model_repo"):
    shutil.copytree(REPO / folder, ROOT / folder, ignore=shutil.ignore_patterns("__pycache__"))
FILES = [
    "leptonci.yaml",
    "environments/dev/ledger.yaml",
    "environments/staging/kustomization.yaml",
    "environments/base/deployment.yaml",
]
# file:line, or (kustomize's own errors have no line) the overlay kustomize could not render
WHERE = re.compile(r"(leptonci: )?error: ([^:\s]+:\d+|[^:\s]+: kustomize cannot render)")
SEEDS = {name: (ROOT / name).read_text() for name in FILES}


def _tree() -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(ROOT)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(ROOT.rglob("*"))
    }


def _validate() -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), time_bound(60):
        code = cli.main(["-C", str(ROOT), "validate"])
    return code, err.getvalue()


def _case(name: str) -> st.SearchStrategy[tuple[str, bytes]]:
    return st.tuples(st.just(name), documents(SEEDS[name]))


@fuzz_settings(32)
@given(st.sampled_from(FILES).flatmap(_case))
def test_validate_one_mutated_file(case: tuple[str, bytes]) -> None:
    name, data = case
    (ROOT / name).write_text(as_text(data))  # valid UTF-8: decoding is #11 item 9's
    try:
        before = _tree()
        code, err = _validate()
        assert _tree() == before, "validate wrote into the repository"
    finally:
        (ROOT / name).write_text(SEEDS[name])
    assert code in (0, 2), f"exit {code}: {err}"
    assert "internal error" not in err and "Traceback" not in err, err
    for line in err.strip().splitlines() if code else ():
        assert WHERE.match(line), f"no file:line: {line}"
    TALLY[f"cli validate ({name})"]["ok" if code == 0 else "exit 2"] += 1
