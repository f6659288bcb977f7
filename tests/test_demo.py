"""`make demo`'s script, run as a new user runs it: clear steps, no log noise, no changes.

It trains the digits example for real (a cold cache in tmp_path), so it also shows that
TensorFlow's C++ start-up lines do not reach the user.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.services import require

REPO = Path(__file__).resolve().parent.parent
LEPTONCI = REPO / ".venv" / "bin" / "leptonci"


def git(*args: str) -> str:
    return subprocess.run(
        ["git", "-C", str(REPO), *args], capture_output=True, text=True, check=True
    ).stdout


def test_demo_trains_releases_into_dev_and_shows_the_next_step(tmp_path: Path) -> None:
    if not LEPTONCI.exists():
        require("the venv", f"{LEPTONCI} is missing: run scripts/setup.sh")
    # what the demo would touch if it wrote to the checkout instead of its clone
    before = git("status", "--porcelain", "--", "environments")
    env = {
        **os.environ,
        "TMPDIR": str(tmp_path),
        "LEPTONCI_CACHE": str(tmp_path / "cache"),
    }
    for name in ("TF_CPP_MIN_LOG_LEVEL", "TF_ENABLE_ONEDNN_OPTS", "LEPTONCI_REGISTRY"):
        env.pop(name, None)
    result = subprocess.run(
        ["bash", str(REPO / "scripts" / "demo.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # TensorFlow's C++ logging (absl preamble, oneDNN notice, graph warnings) is noise here
    noise = [
        line
        for line in output.splitlines()
        if re.match(r"[IWEF]\d{4} |WARNING: All log messages", line)
    ]
    assert not noise, "\n".join(noise)
    headers = [line for line in result.stdout.splitlines() if re.match(r"==> \d/\d ", line)]
    assert [h.split(" ", 3)[2] for h in headers] == ["leptonci", "leptonci", "git"]
    # run push ends with the status table, before the plan for staging
    tail = result.stdout[result.stdout.index("ENV ") :]
    assert re.search(r"^dev +digits +digits-[0-9a-f]{12} ", tail, re.M), tail
    size = r"\d+(\.\d)? (bytes|kB|MB|GB)"  # rich's decimal filesize, as every size is shown
    assert re.search(rf"^pushed digits@sha256:[0-9a-f]{{64}} \({size}", result.stdout, re.M)
    assert "Plan: promote into staging" in tail and "dry run: nothing was written" in tail
    assert "Leptonci-Release: digits-" in tail
    assert git("status", "--porcelain", "--", "environments") == before
