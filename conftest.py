"""pytest and nbval run every notebook in the ``quick`` profile unless told otherwise.

``MNIST_COURSE_PROFILE=full pytest --nbval chapters/`` runs the full experiments instead.
The variable is set here, before nbval starts any kernel, so each kernel inherits it.
"""

import os
import shutil
import tempfile

os.environ.setdefault("MNIST_COURSE_PROFILE", "quick")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# -- temporary files: nbval stops each kernel with SIGKILL, so nothing a notebook put in the
# temporary folder is removed by its owner (TemporaryDirectory's finalizer, TensorFlow's
# autograph files, Ray's session folder). Every kernel, server and test of this session gets
# one temporary folder of its own instead, removed when the session ends. Short, for Ray's
# socket paths.
SESSION_TMP = tempfile.mkdtemp(prefix="mnist-pytest-")
os.environ["TMPDIR"] = tempfile.tempdir = SESSION_TMP


def pytest_unconfigure(config):
    shutil.rmtree(SESSION_TMP, ignore_errors=True)


# -- per-notebook times: nbval makes each cell a test; sum them per notebook ----------------
_NOTEBOOK_SECONDS: dict[str, float] = {}


def pytest_runtest_logreport(report):
    path = report.nodeid.split("::", 1)[0]
    if path.endswith(".ipynb"):
        _NOTEBOOK_SECONDS[path] = _NOTEBOOK_SECONDS.get(path, 0.0) + report.duration


def pytest_terminal_summary(terminalreporter):
    if not _NOTEBOOK_SECONDS:
        return
    terminalreporter.section("seconds per notebook (nbval, this profile)")
    for path, seconds in sorted(_NOTEBOOK_SECONDS.items()):
        terminalreporter.write_line(f"{seconds:8.1f}  {path}")
    terminalreporter.write_line(f"{sum(_NOTEBOOK_SECONDS.values()):8.1f}  total")
