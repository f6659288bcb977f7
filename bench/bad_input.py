"""Hostile input is refused fast: `leptonci validate` on the example as it is, beside the
same example with a billion-laughs leptonci.yaml, a billion-laughs ledger, and a 50 MB
kustomization, measured in the same run. Target: each refusal within 1 s of the valid
run's time (it exits 2 at the first bad file; the valid run renders every overlay), i.e.
a ratio of at most about 1.

    .venv/bin/python bench/bad_input.py [--runs 3]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LAUGHS = ['lol0: &l0 ["lol"]'] + [
    f"lol{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]" for i in range(1, 10)
]


def example(dest: Path) -> Path:
    dest.mkdir()
    shutil.copy(REPO / "leptonci.yaml", dest / "leptonci.yaml")
    for folder in ("environments", "model_repo"):
        shutil.copytree(REPO / folder, dest / folder, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def laughing_config(root: Path) -> None:
    path = root / "leptonci.yaml"
    text = path.read_text().replace(
        "    params:\n", "    params:\n" + "".join(f"      {line}\n" for line in LAUGHS), 1
    )
    path.write_text(text)


def laughing_ledger(root: Path) -> None:
    path = root / "environments/dev/ledger.yaml"
    path.write_text(path.read_text() + "".join(f"{line}\n" for line in LAUGHS))


def huge_kustomization(root: Path) -> None:
    with (root / "environments/dev/kustomization.yaml").open("a") as fh:
        fh.write("# padding\n" * 5_000_000)


def seconds(root: Path, runs: int, want: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "leptonci", "-C", str(root), "validate"],
            capture_output=True,
            text=True,
            timeout=600,
        )
        times.append(time.perf_counter() - start)
        assert done.returncode == want, done.stderr
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    cases: list[tuple[str, Callable[[Path], None]]] = [
        ("billion-laughs leptonci.yaml", laughing_config),
        ("billion-laughs ledger.yaml", laughing_ledger),
        ("50 MB kustomization.yaml", huge_kustomization),
    ]
    with tempfile.TemporaryDirectory() as tmp:
        valid = seconds(example(Path(tmp) / "valid"), runs, 0)
        print(f"validate, the example (exit 0)     median {valid:6.2f} s")
        for i, (name, spoil) in enumerate(cases):
            root = example(Path(tmp) / f"case{i}")
            spoil(root)
            took = seconds(root, runs, 2)
            verdict = "ok" if took <= valid + 1 else "MISSED"
            print(
                f"validate, {name:28} median {took:6.2f} s "
                f"ratio {took / valid:.2f}x (target <= 1 s over the valid run): {verdict}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
