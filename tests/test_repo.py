"""Promises of the repository itself: one requirements list, a three-command quick start that
CI runs, a book that lists every chapter, and README numbers that come from the notebooks."""

import json
import re
from pathlib import Path

import pytest
import yaml
from packaging.utils import canonicalize_name

from mnist_course.course import claims
from mnist_course.course.notebooks import STAMP_KEY

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(ROOT.glob("chapters/*.ipynb")) + sorted(ROOT.glob("solutions/*.ipynb"))


def requirement_lines(path):
    lines = (ROOT / path).read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_requirements_use_compatible_ranges():
    for line in requirement_lines("requirements.txt"):
        if line.startswith(("-e", "-c")):
            continue
        if line.startswith("jupyter-book"):  # below 2 on purpose: CONTRIBUTING.md
            assert line.split("#")[0].strip() == "jupyter-book>=1.0.4,<2", line
            continue
        assert "~=" in line and "==" not in line, f"pin {line!r} with ~=, never =="
    names = {re.split("[~=<>]", line)[0].lower() for line in requirement_lines("requirements.txt")}
    for needed in ("tensorflow", "keras", "hyperopt", "jupyterlab", "nbval", "jupytext",
                   "papermill", "matplotlib", "jupyter-book", "ai-edge-litert", "scikit-learn",
                   "tqdm"):
        assert needed in names, f"{needed} missing from requirements.txt"
    assert "-e ." in requirement_lines("requirements.txt")


def test_package_dependencies_agree_with_requirements():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = {re.split("[~=<>]", line)[0].lower(): line
            for line in requirement_lines("requirements.txt")
            if not line.startswith(("-e", "-c"))}
    for dependency in project["dependencies"]:
        name = re.split("[~=<>]", dependency)[0].lower()
        assert pins.get(name) == dependency, (
            f"pyproject.toml says {dependency!r}, requirements.txt {pins.get(name)!r}")


def test_installs_get_the_versions_the_committed_runs_used():
    """requirements.txt reads constraints.txt, which pins every library a committed stamp
    records at the version it records: a clean clone installs what the outputs came from."""
    assert "-c constraints.txt" in requirement_lines("requirements.txt")
    pins = {}
    for line in requirement_lines("constraints.txt"):
        name, sep, version = line.partition("==")
        assert sep and version, f"constraints.txt: pin {line!r} exactly, with =="
        pins[canonicalize_name(name)] = version
    for path in NOTEBOOKS:
        stamp = json.loads(path.read_text())["metadata"].get(STAMP_KEY, {})
        for dist, version in stamp.get("libraries", {}).items():
            pinned = pins.get(canonicalize_name(dist))
            assert pinned == version, (
                f"{path.name} ran with {dist} {version}, constraints.txt pins"
                f" {pinned}: re-run it or refresh constraints.txt"
                " (CONTRIBUTING.md, \"Upgrade a library\")")


def test_the_wheel_holds_every_module(tmp_path):
    import subprocess
    import sys
    import zipfile

    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                    "--no-build-isolation", "--wheel-dir", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True)
    wheel = next(tmp_path.glob("mnist_course-*.whl"))
    inside = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "mnist_course").rglob("*.py")}
    assert modules <= inside, f"missing from the wheel: {sorted(modules - inside)}"


def test_binder_installs_the_root_requirements():
    assert requirement_lines("binder/requirements.txt") == ["-r ../requirements.txt"]
    assert (ROOT / "binder" / "runtime.txt").read_text().strip().startswith("python-3.1")


def test_binder_and_ci_install_the_debian_packages_chapter_04b_runs():
    apt = [line.strip() for line in (ROOT / "binder" / "apt.txt").read_text().splitlines()
           if line.strip() and not line.startswith("#")]
    ci = (ROOT / ".ci" / "run").read_text()
    for package in ("nginx", "prometheus", "nghttp2-client"):
        assert package in apt, f"binder/apt.txt lacks {package}"
        assert re.search(rf"apt-get install .*\b{package}\b", ci, re.S), f".ci/run lacks {package}"


def quick_start_commands():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_quick_start_is_install_run_test_and_ci_runs_it():
    install, run, test = quick_start_commands()
    assert "requirements.txt" in install
    ci = (ROOT / ".ci" / "run").read_text()
    assert ci.startswith("#!/usr/bin/env bash") and "set -euo pipefail" in ci
    makefile = (ROOT / "Makefile").read_text()
    for command in (install, run, test):
        target = command.split()[1] if command.startswith("make ") else "install"
        assert re.search(rf"^{target}:", makefile, re.M), f"no Makefile target {target}"
        if target == "course":
            # the test already executes every notebook (nbval); CI runs the course's two
            # parts, the papermill path on one chapter and the book, instead of all again
            parts = re.search(r"^course:([^#\n]*)", makefile, re.M).group(1).split()
            assert parts == ["notebooks", "book"], parts
            assert re.search(r"make notebooks book NOTEBOOKS=chapters/\S+\.ipynb", ci)
        else:
            assert f"make {target}" in ci, f"CI does not run {command!r}"


def test_book_lists_every_chapter_and_solution():
    toc = yaml.safe_load((ROOT / "book" / "_toc.yml").read_text())
    files = {c["file"] for part in toc["parts"] for c in part["chapters"]}
    for folder in ("chapters", "solutions"):
        for nb in (ROOT / folder).glob("*.ipynb"):
            assert f"{folder}/{nb.stem}" in files, f"{nb.name} is not in book/_toc.yml"
    config = yaml.safe_load((ROOT / "book" / "_config.yml").read_text())
    assert config["execute"]["execute_notebooks"] == "off"
    assert config["launch_buttons"]["binderhub_url"]


def test_readme_and_book_claims_are_generated_from_the_committed_runs():
    from mnist_course.course import ledger

    assert ledger.problems() == [], "run `python -m mnist_course claims` and commit the result"
    rows = ledger.rows()
    ids = {r["id"] for r in rows}
    assert set(claims.ARTICLE_CLAIMS) <= ids, "every article claim has a ledger row"
    assert ids <= set(claims.READINGS), f"rows without a reading: {ids - set(claims.READINGS)}"
    measured = [r for r in rows if r["verdict"] != "pending"]
    assert measured, "no notebook stores a claim"
    assert all(r["verdict"] in claims.VERDICTS and r["rule"] for r in measured)


def _notebook_with_claims(tmp_path, records):
    (tmp_path / "chapters").mkdir()
    nb = {"metadata": {"mnist_course": {"run_seconds": 12.0}}, "nbformat": 4,
          "nbformat_minor": 5, "cells": [{
              "cell_type": "code", "source": "claims_table(...)", "metadata": {},
              "execution_count": 1, "outputs": [{
                  "output_type": "execute_result", "execution_count": 1, "metadata": {},
                  "data": {"text/markdown": "| table |", claims.CLAIMS_MIME: records}}]}]}
    (tmp_path / "chapters" / "01_test.ipynb").write_text(json.dumps(nb))
    (tmp_path / "book").mkdir()
    (tmp_path / "README.md").write_text(
        f"# x\n\n{ledger_markers()}\n\nrest\n")


def ledger_markers():
    from mnist_course.course import ledger

    return f"{ledger.README_START}\n{ledger.README_END}"


def test_ledger_reads_the_stored_records_not_the_prose(tmp_path):
    from mnist_course.course import ledger

    verdict = claims.judge("C1", {"accuracy": claims.exact(99.5, 0.01),
                                  "parameters": claims.exact(60_000, 1)})
    record = claims.Claim("C1", "99.5% (made up)", verdict).record()
    _notebook_with_claims(tmp_path, [record])
    assert ledger.problems(tmp_path) == ["README.md's claims table is out of date",
                                         "book/claims.md is out of date",
                                         "book/claims_forest.png is out of date"]
    ledger.write(tmp_path)
    assert ledger.problems(tmp_path) == []
    readme = (tmp_path / "README.md").read_text()
    assert "| C1: " in readme and "99.5% (made up)" in readme and "| confirmed |" in readme
    assert "| C2: " in readme and "| pending |" in readme  # no notebook checks C2 here
    assert readme.endswith("rest\n")
    page = (tmp_path / "book" / "claims.md").read_text()
    assert "| 01_test | 12 |" in page and "claims_forest.png" in page
    assert (tmp_path / "book" / "claims_forest.png").read_bytes()[:4] == b"\x89PNG"
    # a changed verdict in the notebook makes the generated files stale
    nb_path = tmp_path / "chapters" / "01_test.ipynb"
    nb_path.write_text(nb_path.read_text().replace('"confirmed"', '"refuted"'))
    found = ledger.problems(tmp_path)
    assert "README.md's claims table is out of date" in found
    # ... and the stored numbers no longer give the stored verdict
    assert any("stored 'refuted', its numbers give 'confirmed'" in p for p in found)


def test_github_workflow_runs_ci_and_publishes_the_book():
    """GitHub Actions cannot run here: check the workflow's YAML and its wiring instead (and
    with actionlint where it is installed)."""
    import shutil
    import subprocess

    path = ROOT / ".github" / "workflows" / "ci.yml"
    workflow = yaml.safe_load(path.read_text())
    triggers = workflow.get(True, workflow.get("on"))  # YAML 1.1 reads `on` as True
    assert triggers["push"]["branches"] == ["main"] and "pull_request" in triggers
    ci, pages = workflow["jobs"]["ci"], workflow["jobs"]["pages"]
    runs = [step.get("run", "") for step in ci["steps"]]
    assert "bash .ci/run" in runs
    uses = [step["uses"] for job in (ci, pages) for step in job["steps"] if "uses" in step]
    assert all(re.fullmatch(r"[\w-]+/[\w-]+@v\d+", u) for u in uses), uses
    upload = next(s for s in ci["steps"] if "upload-pages-artifact" in s.get("uses", ""))
    assert upload["with"]["path"] == "book/_build/html"
    assert pages["needs"] == "ci" and "main" in pages["if"]
    assert pages["permissions"] == {"pages": "write", "id-token": "write"}
    if shutil.which("actionlint"):
        result = subprocess.run(["actionlint", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, result.stdout


def test_kernels_and_servers_of_a_test_session_share_one_temporary_folder():
    """nbval kills kernels (SIGKILL), so their temporary files would stay; conftest.py gives
    the session one folder, inherited by every process it starts, and removes it at the end."""
    import os
    import subprocess
    import sys
    import tempfile

    folder = Path(os.environ["TMPDIR"])
    assert folder.name.startswith("mnist-pytest-") and folder.is_dir()
    assert Path(tempfile.gettempdir()) == folder
    child = subprocess.run([sys.executable, "-c", "import tempfile; print(tempfile.mkdtemp())"],
                           capture_output=True, text=True, check=True).stdout.strip()
    assert Path(child).parent == folder


def test_jupyter_book_1_is_pinned_with_its_reason():
    assert any(line.startswith("jupyter-book>=1.0.4,<2 ") for line in
               requirement_lines("requirements.txt"))
    contributing = (ROOT / "CONTRIBUTING.md").read_text()
    assert "## Why Jupyter Book 1" in contributing and "mystmd#2607" in contributing


def test_notebook_code_fits_88_columns():
    """The book's code column holds 88 characters; a longer line would wrap mid-expression."""
    import json

    long = []
    for path in NOTEBOOKS:
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] != "code":
                continue
            for line in "".join(cell["source"]).splitlines():
                if len(line) > 88:
                    long.append(f"{path.name} cell {i}: {len(line)} columns: {line[:60]}...")
    assert not long, "\n".join(long)


TABLE_BUILDERS = ("claims_table", "markdown_table")


def dropped_tables(source: str) -> list[str]:
    """Tables a cell builds and throws away: a ``claims_table(...)`` or ``markdown_table(...)``
    statement that is not the cell's last (only the last expression is displayed)."""
    import ast

    code = "\n".join(
        "" if line.lstrip().startswith(("%", "!")) else line for line in source.splitlines()
    )
    body = ast.parse(code).body
    return [
        f"line {stmt.lineno}: {stmt.value.func.id}(...)"
        for stmt in body[:-1]
        if isinstance(stmt, ast.Expr)
        and isinstance(stmt.value, ast.Call)
        and getattr(stmt.value.func, "id", None) in TABLE_BUILDERS
    ]


def test_a_table_is_shown_not_dropped():
    """A table in the middle of a cell is built and lost (chapter 06's claims once vanished
    from the ledger that way): it is the cell's last expression or goes through display()."""
    assert dropped_tables("markdown_table([], [])\nprint(1)") == ["line 1: markdown_table(...)"]
    assert not dropped_tables("print(1)\ndisplay(claims_table([]))\nclaims_table([])")
    dropped = []
    for path in NOTEBOOKS:
        for i, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "code":
                dropped += [f"{path.name} cell {i}, {d}"
                            for d in dropped_tables("".join(cell["source"]))]
    assert not dropped, "wrap these in display(...):\n" + "\n".join(dropped)


def test_no_two_modules_share_a_name_or_differ_by_a_plural():
    stems = {}
    for path in (ROOT / "mnist_course").rglob("*.py"):
        if path.name.startswith("__"):
            continue
        stem = path.stem.removesuffix("s")
        stems.setdefault(stem, []).append(str(path.relative_to(ROOT)))
    clashes = [paths for paths in stems.values() if len(paths) > 1]
    assert not clashes, clashes
