"""The built book as a reader sees it: every chapter page opened in headless Chromium shows
as many tables and figures as its notebook produced, no raw Markdown table, no error, and
links to the other chapters that lead somewhere; on every chapter page and the claims ledger,
no code, output or table is wider than the content column, on a laptop and on a phone.

Runs after ``make book``: ``MNIST_COURSE_BOOK_CHECK=1 pytest tests/test_book_pages.py`` (CI
does this once the book is built; elsewhere the module is skipped with that command).
"""

from __future__ import annotations

import functools
import json
import os
import re
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from tests.devtools import Page, chromium

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "book" / "_build" / "html"
CHAPTERS = sorted((ROOT / "chapters").glob("*.ipynb"))
CLAIMS = ROOT / "book" / "claims.md"
SCREENSHOT = ROOT / "build" / "book-first-chapter.png"
CLAIMS_SCREENSHOT = ROOT / "build" / "book-claims.png"
# the widths a reader's window has: a laptop (the sidebars shown) and a phone
VIEWPORTS = {"laptop": 1280, "phone": 412}

if not os.environ.get("MNIST_COURSE_BOOK_CHECK"):
    pytest.skip("checks the built book: `make book`, then "
                "`MNIST_COURSE_BOOK_CHECK=1 pytest tests/test_book_pages.py`",
                allow_module_level=True)


@functools.cache
def _browse(page: Path) -> str:
    """The page's DOM after Chromium has loaded and rendered it (once per page)."""
    result = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=True)
    return result.stdout


def _expected(nb_path: Path) -> dict[str, int]:
    """Tables (Markdown cells and Markdown outputs), figures (image outputs and Markdown
    images) and errors of a notebook."""
    nb = json.loads(nb_path.read_text())
    tables = figures = errors = 0
    for cell in nb["cells"]:
        source = "".join(cell["source"])
        if cell["cell_type"] == "markdown":
            tables += len(re.findall(r"(?m)^\|(?:\s*:?-+:?\s*\|)+\s*$", source))
            figures += len(re.findall(r"!\[[^\]]*\]\([^)]+\)", source))  # ![alt](file)
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            markdown = "".join(data.get("text/markdown", ""))
            tables += len(re.findall(r"(?m)^\|(?:\s*:?-+:?\s*\|)+\s*$", markdown))
            figures += "image/png" in data or "image/svg+xml" in data
            errors += output.get("output_type") == "error"
    return {"tables": tables, "figures": figures, "errors": errors}


# Everything in the article (the content column) that is wider than the column: a `pre`
# (code or output), a cell's output or a table that reaches past the column's edges, or
# that hides part of what it holds behind a sideways scrollbar or beyond its edge. A table
# in a box that scrolls sideways (the theme wraps every table in one) fits when that box
# fits. Each problem is named with the start of its text.
TOO_WIDE = r"""
(async () => {
  await document.fonts.ready;
  const article = document.querySelector('article.bd-article');
  if (!article) return ['no article.bd-article on the page'];
  const style = getComputedStyle(article), box = article.getBoundingClientRect();
  const left = box.left + parseFloat(style.paddingLeft);
  const right = box.right - parseFloat(style.paddingRight);
  const scrolls = e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX);
  const name = e => e.tagName.toLowerCase() + [...e.classList].map(c => '.' + c).join('')
    + ' ' + JSON.stringify(e.textContent.trim().slice(0, 50));
  const problems = [];
  for (const el of article.querySelectorAll('pre, div.cell_output, table')) {
    let outer = el;
    if (el.tagName === 'TABLE')
      for (let e = el.parentElement; e && e !== article; e = e.parentElement)
        if (scrolls(e)) { outer = e; break; }
    const r = outer.getBoundingClientRect();
    if (r.width && (r.left < left - 1 || r.right > right + 1)) {
      problems.push(`${name(outer)}: ${Math.round(r.left - left)}px to `
        + `${Math.round(r.right - left)}px, the column ${Math.round(right - left)}px`);
      continue;
    }
    if (el.tagName === 'TABLE') continue;
    for (const e of [el, ...el.querySelectorAll('*')]) {
      // tables, and the pre blocks of an output, are measured on their own
      if (e.closest('table') || e.querySelector('table') || (e !== el && e.closest('pre')))
        continue;
      if (e.scrollWidth > e.clientWidth + 1) {
        problems.push(`${name(e)}: holds ${e.scrollWidth}px in ${e.clientWidth}px`);
        break;
      }
    }
  }
  return problems;
})()
"""

# The tables whose columns do not all show at once: wider than the box they scroll in.
TABLE_COLUMNS_HIDDEN = r"""
[...document.querySelectorAll('article.bd-article table')]
  .filter(t => t.offsetWidth > t.parentElement.clientWidth + 1)
  .map(t => `${t.offsetWidth}px in ${t.parentElement.clientWidth}px: `
            + JSON.stringify(t.textContent.trim().slice(0, 50)))
"""


@pytest.fixture(scope="module")
def built() -> Path:
    if not (HTML / "index.html").exists():
        pytest.fail("the book is not built: run `make book` first")
    return HTML


@pytest.fixture(scope="module")
def browser():
    page = Page()
    yield page
    page.close()


def _article(dom: str) -> str:
    return dom.split('<article', 1)[-1]


@pytest.mark.parametrize("nb_path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_page_shows_its_tables_and_figures(built, nb_path):
    page = built / "chapters" / f"{nb_path.stem}.html"
    assert page.exists(), f"{page} was not built"
    dom = _browse(page)
    want = _expected(nb_path)
    assert want["errors"] == 0
    article = _article(dom)
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


@pytest.mark.parametrize("viewport", VIEWPORTS)
@pytest.mark.parametrize("page", [f"chapters/{nb.stem}.html" for nb in CHAPTERS]
                         + ["book/claims.html"], ids=lambda p: Path(p).stem)
def test_code_outputs_and_tables_fit_the_content_column(built, browser, page, viewport):
    assert (built / page).exists(), f"{built / page} was not built"
    browser.open(built / page, width=VIEWPORTS[viewport])
    too_wide = browser.evaluate(TOO_WIDE)
    assert not too_wide, "wider than the content column (book/_static/pages-that-fit.css):\n" \
        + "\n".join(too_wide)


def test_claims_page_shows_the_ledger(built, browser):
    page = built / "book" / "claims.html"
    assert page.exists(), f"{page} was not built"
    article = _article(_browse(page))
    want = len(re.findall(r"(?m)^\|(?:\s*:?-+:?\s*\|)+\s*$", CLAIMS.read_text()))
    assert want and article.count("<table") == want
    assert "|---" not in article, "a Markdown table shown as text"
    figures = re.findall(r'<img[^>]+src="[^"]*_images/[^"]*forest[^"]*"', article)
    assert len(figures) == 1, "the ledger's forest plot is not on the page"
    browser.open(page, width=VIEWPORTS["laptop"])
    hidden = browser.evaluate(TABLE_COLUMNS_HIDDEN)
    assert not hidden, f"on a laptop, the ledger scrolls sideways to show its columns: {hidden}"
    CLAIMS_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    browser.screenshot(CLAIMS_SCREENSHOT)
    assert CLAIMS_SCREENSHOT.stat().st_size > 10_000


def test_screenshot_of_the_first_chapter(built):
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    page = built / "chapters" / f"{CHAPTERS[0].stem}.html"
    subprocess.run([chromium(), "--headless", "--no-sandbox", "--disable-gpu",
                    "--hide-scrollbars", "--window-size=1280,1600",
                    f"--screenshot={SCREENSHOT}", page.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert SCREENSHOT.exists() and SCREENSHOT.stat().st_size > 10_000
