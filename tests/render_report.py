"""Render a gate comment the way a reviewer sees it: Mermaid through mermaid-cli, the page
through headless Chromium.

mermaid-cli (npm ``@mermaid-js/mermaid-cli``, installed by ``scripts/setup.sh --dev``
into ``.venv/mermaid``) draws each chart with Debian's ``chromium``, run headless with
``--no-sandbox`` (CI runs as root) through a puppeteer config file; the comment's
Markdown becomes HTML with markdown-it (rich's own dependency) and Chromium takes the
screenshot. ``python -m tests.render_report docs/gate-comment.png`` rewrites the
picture in the docs.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from leptonci.core.config import ChangeThreshold, Threshold
from leptonci.core.gate import Baseline, evaluate_gate
from leptonci.core.ledger import Ledger, ReleaseRecord
from leptonci.core.report import GateReport, gate_marker, render_gate_report

REPO = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"```mermaid\n(.*?)```", re.S)


def mmdc() -> str | None:
    for venv in (REPO / ".venv", Path(sys.prefix)):
        found = venv / "mermaid" / "node_modules" / ".bin" / "mmdc"
        if found.is_file():
            return str(found)
    return shutil.which("mmdc")


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def render_chart(source: str, out: Path, *, work: Path) -> Path:
    """One Mermaid chart to out (.svg or .png)."""
    browser, tool = chromium(), mmdc()
    assert browser and tool, "needs chromium and mermaid-cli"
    config = work / "puppeteer.json"
    config.write_text(
        json.dumps({"executablePath": browser, "args": ["--no-sandbox", "--disable-gpu"]})
    )
    src = work / f"{out.stem}.mmd"
    src.write_text(source)
    subprocess.run(
        [tool, "-p", str(config), "-i", str(src), "-o", str(out), "-b", "white", "-w", "720"],
        check=True,
        capture_output=True,
        timeout=180,
    )
    return out


def sample_comment() -> str:
    """The comment of a candidate that tuned epochs, against three releases in prod."""
    gate = {
        "accuracy": Threshold(min=0.9, change=ChangeThreshold(absolute=-0.01)),
        "loss": Threshold(max=0.5),
    }
    history = [(0.948, 0.21), (0.955, 0.18), (0.957, 0.17)]
    ledger = Ledger(environment="prod")
    for i, (acc, loss) in enumerate(history):
        ledger = ledger.with_release(
            ReleaseRecord(
                release=f"digits-{i + 1:012x}",
                model="digits",
                model_hash="sha256:" + f"{i}" * 64,
                image="ghcr.io/octo-org/digits",
                digest="sha256:" + f"{i + 5}" * 64,
                metrics={"accuracy": acc, "loss": loss},
                params={"epochs": 12, "batch_size": 64},
            )
        )
    metrics = {"accuracy": 0.9614, "loss": 0.142}
    baseline = Baseline("digits-000000000003", {"accuracy": 0.957, "loss": 0.17})
    fingerprint = "sha256:" + "e" * 64
    baseline = Baseline(baseline.release, baseline.metrics, eval_fingerprint=fingerprint)
    verdict = evaluate_gate(
        gate, metrics=metrics, eval_count=360, eval_fingerprint=fingerprint, baseline=baseline
    )
    report = GateReport(
        model="digits",
        candidate="digits-7f3e9a1c5b2d",
        against="prod",
        verdict=verdict,
        metrics=metrics,
        provenance={"candidate": "digits-7f3e9a1c5b2d", "eval examples": "360"},
        bounds={"accuracy": (0.9, None), "loss": (None, 0.5)},
        params={"epochs": 20, "batch_size": 64},
        baseline_params={"epochs": 12, "batch_size": 64},
    )
    return render_gate_report(report, marker=gate_marker("digits", "model-gate"), ledger=ledger)


def render_comment(markdown: str, out: Path) -> Path:
    """The comment as a PNG screenshot, its charts drawn by mermaid-cli."""
    from markdown_it import MarkdownIt

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        charts: list[str] = []

        def chart(found: re.Match[str]) -> str:
            path = render_chart(found.group(1), work / f"chart{len(charts)}.svg", work=work)
            charts.append(path.name)
            return f'<img src="{path.name}" width="560">'

        page = FENCE.sub(chart, markdown)
        body = MarkdownIt("commonmark", {"html": True}).enable("table").render(page)
        style = (
            "body{font:14px -apple-system,'DejaVu Sans',sans-serif;max-width:760px;margin:16px;"
            "color:#1f2328}table{border-collapse:collapse;margin:8px 0}td,th{border:1px solid "
            "#d0d7de;padding:4px 10px}th{background:#f6f8fa}blockquote{color:#59636e;margin:0;"
            "padding-left:12px;border-left:3px solid #d0d7de}code{background:#eff1f3;padding:1px"
            " 4px;border-radius:4px}"
        )
        (work / "comment.html").write_text(
            f"<!doctype html><meta charset=utf-8><title>{html.escape('gate')}</title>"
            f"<style>{style}</style><body>{body}</body>"
        )
        browser = chromium()
        assert browser
        subprocess.run(
            [
                browser,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--screenshot={out.resolve()}",
                "--window-size=820,1330",
                (work / "comment.html").as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
    return out


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "docs/gate-comment.png")
    print(render_comment(sample_comment(), target))
