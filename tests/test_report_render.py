"""The sticky comment's chart, rendered by mermaid-cli in headless Chromium.

A service test: it skips on a laptop without chromium and mermaid-cli and fails in CI,
where `scripts/setup.sh --dev` installs both. It checks that Mermaid accepts what
leptonci writes and draws it in the palette leptonci sets (the candidate orange, the
history blue, the threshold red), and that the whole comment renders to a picture.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.render_report import FENCE, chromium, mmdc, render_chart, render_comment, sample_comment
from tests.services import require

pytestmark = pytest.mark.service


@pytest.fixture
def renderer() -> None:
    if chromium() is None:
        require("chromium", "apt-get install chromium (scripts/setup.sh --dev)")
    if mmdc() is None:
        require("mermaid-cli", "npm @mermaid-js/mermaid-cli (scripts/setup.sh --dev)")


def test_the_chart_renders_in_leptoncis_palette(renderer: None, tmp_path: Path) -> None:
    comment = sample_comment()
    charts = FENCE.findall(comment)
    assert len(charts) == 2  # accuracy and loss
    svg = render_chart(charts[0], tmp_path / "accuracy.svg", work=tmp_path).read_text().lower()
    for colour in ("#f4900c", "#1d9bf0", "#dd2e44"):  # candidate, history, threshold
        assert colour in svg, colour
    assert "digits-7f3e9a1c5b2d (pr)" in svg and "accuracy" in svg
    png = render_chart(charts[1], tmp_path / "loss.png", work=tmp_path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_whole_comment_renders_to_a_picture(renderer: None, tmp_path: Path) -> None:
    out = render_comment(sample_comment(), tmp_path / "comment.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
