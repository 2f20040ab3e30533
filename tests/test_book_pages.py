"""The built book as a reader sees it: every chapter page opened in headless Chromium shows
as many tables and figures as its notebook produced, no raw Markdown table, no error, and
links to the other chapters that lead somewhere.

Runs after ``make book``: ``MNIST_COURSE_BOOK_CHECK=1 pytest tests/test_book_pages.py`` (CI
does this once the book is built; elsewhere the module is skipped with that command).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "book" / "_build" / "html"
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
SCREENSHOT = ROOT / "build" / "book-first-chapter.png"

if not os.environ.get("MNIST_COURSE_BOOK_CHECK"):
    pytest.skip("checks the built book: `make book`, then "
                "`MNIST_COURSE_BOOK_CHECK=1 pytest tests/test_book_pages.py`",
                allow_module_level=True)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed (.ci/run installs it)")
    pytest.skip("chromium is not installed: sudo apt-get install chromium")


@functools.cache
def _browse(page: Path) -> str:
    """The page's DOM after Chromium has loaded and rendered it (once per page)."""
    result = subprocess.run(
        [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True)
    return result.stdout


def _expected(nb_path: Path) -> dict[str, int]:
    """Tables (Markdown cells and Markdown outputs), figures and errors of a notebook."""
    nb = json.loads(nb_path.read_text())
    tables = figures = errors = 0
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            tables += len(re.findall(r"(?m)^\|(?:\s*:?-+:?\s*\|)+\s*$", source))
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            markdown = "".join(data.get("text/markdown", ""))
            tables += len(re.findall(r"(?m)^\|(?:\s*:?-+:?\s*\|)+\s*$", markdown))
            figures += "image/png" in data or "image/svg+xml" in data
            errors += output.get("output_type") == "error"
    return {"tables": tables, "figures": figures, "errors": errors}


@pytest.fixture(scope="module")
def built() -> Path:
    if not (HTML / "index.html").exists():
        pytest.fail("the book is not built: run `make book` first")
    return HTML


@pytest.mark.parametrize("nb_path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_page_shows_its_tables_and_figures(built, nb_path):
    page = built / "chapters" / f"{nb_path.stem}.html"
    assert page.exists(), f"{page} was not built"
    dom = _browse(page)
    want = _expected(nb_path)
    assert want["errors"] == 0
    article = dom.split('<article', 1)[-1]
    assert article.count("<table") == want["tables"], (nb_path.name, want)
    figures = len(re.findall(r'<img[^>]+src="[^"]*_images/', article))
    assert figures == want["figures"], (nb_path.name, figures, want)
    assert "|---" not in article and "|—" not in article, "a Markdown table shown as text"
    assert "output traceback" not in article


@pytest.mark.parametrize("nb_path", CHAPTERS, ids=lambda p: p.stem)
def test_links_to_other_chapters_lead_somewhere(built, nb_path):
    page = built / "chapters" / f"{nb_path.stem}.html"
    dom = _browse(page)
    targets = set()
    for href in re.findall(r'href="([^"#]+\.html)(?:#[^"]*)?"', dom):
        if urlparse(href).scheme in ("http", "https"):
            continue
        targets.add((page.parent / unquote(href)).resolve())
    others = {t for t in targets if t.parent == page.parent and t != page.resolve()}
    assert others, "no link to another chapter (the navigation is missing)"
    missing = [str(t) for t in targets if not t.exists()]
    assert not missing, f"broken links: {missing}"


def test_screenshot_of_the_first_chapter(built):
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    page = built / "chapters" / f"{CHAPTERS[0].stem}.html"
    subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", "--window-size=1280,1600",
                    f"--screenshot={SCREENSHOT}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert SCREENSHOT.exists() and SCREENSHOT.stat().st_size > 10_000
