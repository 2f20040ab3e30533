"""The draw-a-digit page end to end: the stack (nginx serving ``deploy/web/`` and proxying
``/v1/`` to a replica of the course's model) opened in headless Chromium; 50 MNIST test
digits drawn on its canvas as pen strokes, replayed as real mouse events; the page's answer
read from ``#prediction``. At least 45 of 50 must be right. Saves a screenshot
(``build/draw_a_digit.png``; chapter 08 shows the committed copy,
``chapters/images/draw_a_digit.png``).

The strokes: each digit's skeleton traced into a pen path (``multimodal.trace``, chapter
07c's pen simulation), split where the pen lifts, scaled from 28x28 to the 280x280 canvas.
Needs nginx and Chromium; elsewhere skipped with one line naming what is missing.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

from mnist_course.serving import stack as serving_stack
from tests.devtools import Page

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "mnist"
SCREENSHOT = ROOT / "build" / "draw_a_digit.png"
N_DIGITS, MIN_RIGHT = 50, 45

missing = serving_stack.missing_programs(("nginx",))
for name in ("chromium", "chromium-browser", "google-chrome"):
    if serving_stack.shutil.which(name):
        break
else:
    missing.append("chromium")
if missing:
    message = f"needs {' and '.join(missing)}: sudo apt-get install {' '.join(missing)}"
    if os.environ.get("CI"):
        pytest.fail(message, pytrace=False)
    pytest.skip(message, allow_module_level=True)


def strokes(image: np.ndarray, scale: float, offset: float) -> list[np.ndarray]:
    """A digit as pen strokes in canvas pixels: the traced path, split where the pen lifts
    (a point reached with the pen up starts a new stroke)."""
    from mnist_course.multimodal import CHANNELS, trace

    path = trace(image, n_points=96)
    xy = path[:, :2] * 27 * scale + offset
    down = path[:, CHANNELS.index("pen_down")] > 0.5
    breaks = [0, *np.flatnonzero(~down[1:]) + 1, len(path)]
    return [xy[a:b] for a, b in zip(breaks, breaks[1:]) if b > a]


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    from mnist_course import canvas

    scratch = tmp_path_factory.mktemp("draw")
    base = canvas.with_canvas(MODEL, scratch)
    with serving_stack.Stack(base, replicas=1, prometheus=False) as running:
        browser = Page()
        try:
            browser.open(f"{running.rest_url}/", width=900, height=700)
            yield browser
        finally:
            browser.close()


def wait_for_answer(page: Page, timeout: float = 20.0) -> tuple[str, str]:
    """``#prediction`` and ``#message`` once the page has no request in flight."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        prediction, message = page.evaluate(
            "[document.getElementById('prediction').textContent,"
            " document.getElementById('message').textContent]")
        if not message.startswith("asking"):
            return prediction, message
        time.sleep(0.05)
    raise AssertionError(f"the page did not answer within {timeout:.0f} s")


def test_the_page_reads_drawn_test_digits(page):
    from mnist_course import data

    split = data.load_split()
    images, labels = split.x_test[:N_DIGITS], split.y_test[:N_DIGITS]
    box = page.evaluate("(() => { const r = document.getElementById('canvas')"
                        ".getBoundingClientRect(); return [r.left, r.top, r.width]; })()")
    left, top, width = box
    scale = width / 28  # canvas pixels per MNIST pixel
    answers = []
    for image in images:
        page.evaluate("document.getElementById('clear').click()")
        for stroke in strokes(image, scale, scale / 2):
            x, y = stroke[0]
            page.mouse("mousePressed", left + x, top + y, True)
            for x, y in stroke[1:]:
                page.mouse("mouseMoved", left + x, top + y, True)
            page.mouse("mouseReleased", left + x, top + y, False)
        prediction, message = wait_for_answer(page)
        assert message == "", message
        answers.append(int(prediction))
    shown = page.evaluate(  # bars drawn, and the preview's lit pixels
        "[document.querySelectorAll('#probabilities .bar').length,"
        " [...document.getElementById('preview').getContext('2d')"
        ".getImageData(0, 0, 28, 28).data].filter((v, i) => i % 4 == 0 && v > 0).length]")
    SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(SCREENSHOT)
    right = int((np.array(answers) == labels).sum())
    wrong = [(int(t), a) for t, a in zip(labels, answers) if t != a]
    print(f"{right} of {N_DIGITS} drawn digits right; wrong (label, answer): {wrong}")
    assert right >= MIN_RIGHT, f"{right} of {N_DIGITS} right; wrong (label, answer): {wrong}"
    assert shown[0] == 10 and shown[1] >= 40, shown  # ten bars; a digit in the preview
    assert SCREENSHOT.stat().st_size > 10_000


def test_a_blank_canvas_is_refused_on_the_page(page):
    page.evaluate("document.getElementById('clear').click(); predict()")
    prediction, message = wait_for_answer(page)
    assert prediction == "–" and "draw a digit first" in message
    # and the page, and the server, go on: a stroke gets an answer
    left, top = page.evaluate("(() => { const r = document.getElementById('canvas')"
                              ".getBoundingClientRect(); return [r.left, r.top]; })()")
    page.mouse("mousePressed", left + 140, top + 40, True)
    for y in range(40, 241, 10):
        page.mouse("mouseMoved", left + 140, top + y, True)
    page.mouse("mouseReleased", left + 140, top + 240, False)
    prediction, message = wait_for_answer(page)
    assert message == "" and prediction.isdigit()
