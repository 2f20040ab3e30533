"""Headless Chromium for the tests that need a real browser (the built book, the
draw-a-digit page), driven over the DevTools protocol on a pipe: no driver program, no
extra package. Chromium gets SIGKILL when the test process dies, however it dies."""

from __future__ import annotations

import base64
import ctypes
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    if os.environ.get("CI"):
        pytest.fail("chromium is not installed (.ci/run installs it)")
    pytest.skip("chromium is not installed: sudo apt-get install chromium")


class Page:
    """One Chromium tab, driven over the DevTools protocol on a pipe
    (``--remote-debugging-pipe``: fd 3 in, fd 4 out, one JSON message per NUL): enough to
    open a page at a given window width, evaluate JavaScript in it and take a screenshot."""

    def __init__(self, timeout: float = 60.0):
        to_chromium, from_us = os.pipe()
        to_us, from_chromium = os.pipe()

        def pipes_on_fd_3_and_4():  # in the child, before exec
            a, b = os.dup(to_chromium), os.dup(from_chromium)
            os.dup2(a, 3)
            os.dup2(b, 4)
            if sys.platform == "linux":  # die with the test process
                ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PDEATHSIG

        self.process = subprocess.Popen(
            [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--remote-debugging-pipe", "about:blank"],
            preexec_fn=pipes_on_fd_3_and_4, close_fds=False,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_chromium)
        os.close(from_chromium)
        self._out, self._in, self._buffer = from_us, to_us, b""
        self.timeout, self._id = timeout, 0
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target,
                                 flatten=True)["sessionId"]
        self.call("Page.enable", session=True)

    def _message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._in], [], [], max(0, deadline - time.monotonic()))
            chunk = os.read(self._in, 1 << 16) if ready else b""
            if not chunk:
                raise RuntimeError("Chromium did not answer" if not ready else "Chromium quit")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, session: bool = False, **params) -> dict:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = self.session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while (answer := self._message(deadline)).get("id") != self._id:
            pass
        if "error" in answer:
            raise RuntimeError(f"{method}: {answer['error']}")
        return answer["result"]

    def open(self, page: Path | str, width: int, height: int = 900) -> None:
        """Load ``page`` (a file, or a URL) in a window ``width`` x ``height`` pixels."""
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=width,
                  height=height, deviceScaleFactor=1, mobile=False)
        url = page.as_uri() if isinstance(page, Path) else page
        self.call("Page.navigate", session=True, url=url)
        deadline = time.monotonic() + self.timeout
        while self._message(deadline).get("method") != "Page.loadEventFired":
            pass

    def evaluate(self, expression: str):
        result = self.call("Runtime.evaluate", session=True, expression=expression,
                           awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def mouse(self, kind: str, x: float, y: float, pressed: bool) -> None:
        """One real mouse event at (x, y) in the page: ``kind`` is mousePressed,
        mouseMoved or mouseReleased; the page sees pointer events, as from a hand."""
        self.call("Input.dispatchMouseEvent", session=True, type=kind, x=float(x), y=float(y),
                  button="left", buttons=1 if pressed else 0,
                  clickCount=0 if kind == "mouseMoved" else 1)

    def screenshot(self, path: Path) -> None:
        shot = self.call("Page.captureScreenshot", session=True, format="png",
                         captureBeyondViewport=True)
        path.write_bytes(base64.b64decode(shot["data"]))

    def close(self) -> None:
        self.process.kill()
        self.process.wait()
        os.close(self._out)
        os.close(self._in)


