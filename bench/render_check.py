"""Benchmark: rendering a plan's writes with kustomize before a landing writes them.

    .venv/bin/python bench/render_check.py [--trials 10]

Every landing that writes now copies the changed environment (and the folders its
kustomization names) to a temporary directory, applies the plan's writes there and
renders it (``engine/rendering.check_renders``). Prints the median of that check and of
a plain ``kubectl kustomize`` of the same overlay in place, and their ratio, measured in
the same run on this repository's example (environments/staging).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from leptonci.adapters import kustomize  # noqa: E402
from leptonci.core.actions import WriteFile  # noqa: E402
from leptonci.core.config import load_config  # noqa: E402
from leptonci.core.plan import Plan  # noqa: E402
from leptonci.engine.rendering import check_renders  # noqa: E402


def _median_ms(call: Callable[[], object], trials: int) -> float:
    call()  # warm: the first kubectl start reads its binary from disk
    times = []
    for _ in range(trials):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    if kustomize.renderer() is None:
        sys.exit("neither kubectl nor kustomize is installed")
    env = load_config(ROOT).env("staging")
    path = f"{env.path}/kustomization.yaml"
    text = (ROOT / path).read_text()
    plan = Plan("pin", (WriteFile(summary="pin", path=path, old=text, new=text),))
    checked = _median_ms(lambda: check_renders(ROOT, plan, [env]), args.trials)
    plain = _median_ms(lambda: kustomize.render(ROOT, env.path), args.trials)
    print(f"check_renders (copy, write, render): {checked:.0f} ms")
    print(f"kubectl kustomize in place:          {plain:.0f} ms")
    print(f"ratio: {checked / plain:.2f}")


if __name__ == "__main__":
    main()
