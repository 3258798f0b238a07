"""Headless Chromium (Debian's ``chromium``) as a user's browser: lay a page out at a width, print it, screenshot it."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

INSTALL = "apt-get install -y --no-install-recommends chromium (./setup.sh installs it)"
A4_POINTS = (595.28, 841.89)

# Written into the DOM once the page (and its inline images) has loaded: what a user at that width would scroll
MEASURE = """<script>
window.addEventListener("load", () => {
  const page = document.documentElement, limit = page.clientWidth;
  const wide = [...document.querySelectorAll("body *")].filter((e) => e.getBoundingClientRect().right > limit + 0.5)
    .slice(0, 5).map((e) => e.tagName.toLowerCase() + (e.className ? "." + e.className : ""));
  const out = document.createElement("pre");
  out.id = "measured";
  out.textContent = JSON.stringify({scrollWidth: page.scrollWidth, clientWidth: limit, wide: wide});
  document.body.appendChild(out);
});
</script>"""


@dataclass(frozen=True)
class Layout:
    scroll_width: int
    client_width: int
    too_wide: list[str]  # the first elements reaching past the viewport's right edge

    @property
    def overflows(self) -> bool:
        return self.scroll_width > self.client_width


def chromium() -> str:
    """The chromium binary, or skip naming the install command."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.skip(f"chromium is not on PATH: {INSTALL}")
    return found


def _run(args: list[str], timeout_s: float = 90) -> subprocess.CompletedProcess[str]:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        command = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                   f"--user-data-dir={profile}", "--no-first-run", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=timeout_s, check=False)


def layout(page: Path, *, width: int = 1280) -> Layout:
    """Lay ``page`` out in a ``width`` px wide window and measure how wide the document is."""
    probe = page.with_name(f".{page.stem}-measure.html")
    probe.write_text(page.read_text().replace("</body>", MEASURE + "</body>"))
    try:
        ran = _run([f"--window-size={width},900", "--virtual-time-budget=10000", "--dump-dom", probe.as_uri()])
    finally:
        probe.unlink()
    found = re.search(r'<pre id="measured">(.*?)</pre>', ran.stdout)
    assert found, f"chromium measured nothing: {ran.stderr[-2000:]}"
    data = json.loads(found.group(1).replace("&quot;", '"'))
    return Layout(data["scrollWidth"], data["clientWidth"], data["wide"])


def print_pdf(page: Path, pdf: Path) -> bytes:
    """Print ``page`` to PDF as Chromium's print dialog would (the page's own @page size applies)."""
    ran = _run(["--no-pdf-header-footer", f"--print-to-pdf={pdf}", page.as_uri()])
    assert pdf.exists(), f"chromium printed nothing: {ran.stderr[-2000:]}"
    return pdf.read_bytes()


def page_sizes(pdf: bytes) -> list[tuple[float, float]]:
    """Every page's MediaBox (width, height) in points."""
    boxes = re.findall(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", pdf)
    return [(float(w), float(h)) for w, h in boxes]


def is_a4(size: tuple[float, float]) -> bool:
    return abs(size[0] - A4_POINTS[0]) < 3 and abs(size[1] - A4_POINTS[1]) < 3


def screenshot(page: Path, png: Path, *, width: int = 1280, height: int = 2000) -> None:
    ran = _run([f"--window-size={width},{height}", "--virtual-time-budget=10000", f"--screenshot={png}", page.as_uri()])
    assert png.exists(), f"chromium took no screenshot: {ran.stderr[-2000:]}"
