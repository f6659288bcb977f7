"""CLI start-up: median wall time of `leptonci --help` beside `python -c pass` and
`kubectl version --client`, measured in the same run. Target: within 3x of kubectl.

    .venv/bin/python bench/cli_startup.py [--runs 10]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def median_seconds(cmd: list[str], runs: int) -> float:
    subprocess.run(cmd, capture_output=True, check=True)  # warm the page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, capture_output=True, check=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    runs = parser.parse_args().runs
    exe = Path(sys.executable).with_name("leptonci")
    leptonci = [str(exe)] if exe.exists() else [sys.executable, "-m", "leptonci"]
    python_s = median_seconds([sys.executable, "-c", "pass"], runs)
    lepton_s = median_seconds([*leptonci, "--help"], runs)
    print(f"python -c pass         median {python_s * 1000:7.1f} ms")
    print(f"leptonci --help        median {lepton_s * 1000:7.1f} ms")
    print(f"ratio leptonci/python  {lepton_s / python_s:.2f}x")
    if shutil.which("kubectl"):
        kubectl_s = median_seconds(["kubectl", "version", "--client"], runs)
        print(f"kubectl version        median {kubectl_s * 1000:7.1f} ms")
        ratio = lepton_s / kubectl_s
        print(
            f"ratio leptonci/kubectl {ratio:.2f}x (target <= 3x): {'ok' if ratio <= 3 else 'MISSED'}"
        )
    else:
        print("kubectl not installed: kubectl ratio not measured")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
