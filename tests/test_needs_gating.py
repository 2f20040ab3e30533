"""Cells marked ``# needs: PROGRAM`` and the cells that use what they define: skipped together
where a program is missing (``mnist_course.serving.stack.skip_cells_needing_missing_programs``).

The fast tests check the dependency logic in an IPython shell; the slow ones run chapter 04b
under nbval, in the quick profile, with nginx, Prometheus and h2load hidden in every
combination but all present (the main suite's nbval runs that one). Select them with, say,
``pytest tests/test_needs_gating.py -k "nginx-absent"``.
"""

from __future__ import annotations

import ast
import itertools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mnist_course.serving import stack as stack_module
from mnist_course.serving.stack import NEEDS_MARK, cell_reads_and_binds

ROOT = Path(__file__).resolve().parent.parent
CHAPTER = ROOT / "chapters" / "04b_tf_serving.ipynb"
SOLUTIONS = ROOT / "solutions" / "04b_tf_serving_solutions.ipynb"
PROGRAMS = ("nginx", "prometheus", "h2load")
CALL = "skip_cells_needing_missing_programs(("  # the notebooks' call, with a tuple of names
#: what hiding a program's Debian package hides
PACKAGE_FILES = {"nginx": ("nginx",), "prometheus": ("prometheus", "promtool"),
                 "h2load": ("h2load",)}


# -- the dependency logic -------------------------------------------------------------------

@pytest.mark.parametrize("source, reads, binds", [
    ("y = x + 1", {"x"}, {"y"}),
    ("x = 2\ny = x", set(), {"x", "y"}),  # bound before it is read
    ("x += 1", {"x"}, {"x"}),
    ("for i in items:\n    total = i", {"items"}, {"i", "total"}),
    ("with open(p) as f:\n    text = f.read()", {"open", "p"}, {"f", "text"}),
    ("if (n := len(xs)) > 1:\n    print(n)", {"len", "xs", "print"}, {"n"}),
    ("import os.path\nfrom json import dumps as d", set(), {"os", "d"}),
    ("def f(a, b=default):\n    return a + g(b)", {"default", "g"}, {"f"}),
    ("def f():\n    return later\nlater = 1", set(), {"f", "later"}),  # a body runs later
    ("squares = [x * x for x in xs]", {"xs"}, {"squares"}),  # x: the comprehension's own
    ("try:\n    pass\nexcept E as error:\n    print(error)", {"E", "print"}, {"error"}),
    ("class C(Base):\n    size = n", {"Base", "n"}, {"C"}),
    ("result = await run(x)", {"run", "x"}, {"result"}),  # top-level await, as in a notebook
    ("%time y = x", {"get_ipython"}, set()),  # a magic's argument is text, not code
    ("print(unclosed", set(), set()),  # not Python: its own error will say so
])
def test_cell_reads_and_binds(source, reads, binds):
    assert cell_reads_and_binds(source) == (reads, binds)


@pytest.fixture
def ipython(monkeypatch):
    """A fresh IPython shell, outside CI; its transformer removed afterwards."""
    from IPython.core.interactiveshell import InteractiveShell

    monkeypatch.delenv("CI", raising=False)
    shell = InteractiveShell.instance()
    yield shell
    shell.input_transformers_cleanup[:] = [t for t in shell.input_transformers_cleanup
                                           if getattr(t, "__name__", None) != "skip_cell"]
    InteractiveShell.clear_instance()


@pytest.fixture
def shell(ipython, monkeypatch, tmp_path):
    """The shell, with nginx missing and the transformer installed."""
    monkeypatch.setattr(stack_module, "SEARCH_PATH", str(tmp_path))  # nothing installed
    assert stack_module.skip_cells_needing_missing_programs(("nginx",)) == ["nginx"]
    return ipython


def run(shell, capsys, source: str) -> str:
    """Run one cell; what it printed. A NameError or any other error fails the test."""
    capsys.readouterr()
    result = shell.run_cell(source)
    assert result.success, result.error_in_exec or result.error_before_exec
    return capsys.readouterr().out


def test_a_cell_using_a_skipped_cells_names_is_skipped_too(shell, capsys):
    out = run(shell, capsys, "# needs: nginx\nbest = 1\nrequests = [best]")
    assert out.startswith("skipped: this cell needs ['nginx'];") and out.count("\n") == 1
    out = run(shell, capsys, "# needs: h2load\nfloor = best * 2")  # h2load is not missing
    assert out.count("\n") == 1 and "needs ['nginx'] (it reads best," in out
    out = run(shell, capsys, "print(floor)")  # unmarked, and uses what the last one skipped
    assert out.count("\n") == 1 and "(it reads floor," in out
    assert not {"best", "requests", "floor"} & shell.user_ns.keys()


def test_a_cell_that_binds_a_name_first_runs_and_frees_it(shell, capsys):
    run(shell, capsys, "# needs: nginx\nstack = 'started'")
    assert run(shell, capsys, "stack = 'another'\nprint(stack)") == "another\n"
    assert run(shell, capsys, "print(stack)") == "another\n"  # no longer skipped
    assert run(shell, capsys, "print([stack for stack in 'ab'])") == "['a', 'b']\n"


def test_names_through_functions_and_imports(shell, capsys):
    run(shell, capsys, "# needs: nginx\nimport json as j\nbase = 1")
    assert "(it reads base," in run(shell, capsys, "def f(x):\n    return x + base")
    assert "(it reads f," in run(shell, capsys, "print(f(1))")  # f was never defined
    assert run(shell, capsys, "def g(base):\n    return base\nprint(g(2))") == "2\n"
    assert "(it reads j," in run(shell, capsys, "print(j.dumps(1))")
    assert run(shell, capsys, "import json as j\nprint(j.dumps(1))") == "1\n"


def _code_cells(path: Path) -> list[str]:
    return ["".join(cell["source"]) for cell in json.loads(path.read_text())["cells"]
            if cell["cell_type"] == "code"]


@pytest.mark.parametrize("path", [CHAPTER, SOLUTIONS], ids=lambda p: p.name)
@pytest.mark.parametrize("absent", [set(c) for n in range(4)
                                    for c in itertools.combinations(PROGRAMS, n)],
                         ids=lambda a: "absent:" + ("+".join(sorted(a)) or "none"))
def test_the_notebook_skips_only_its_stack_cells_one_line_each(path, absent, ipython,
                                                               monkeypatch, capsys):
    """Under every combination, the cells after the stack section that are not marked still
    run, and each skipped cell prints one line."""
    monkeypatch.setattr(stack_module, "missing_programs",
                        lambda names=(): [n for n in names if n in absent])
    cells = _code_cells(path)
    start = next(i for i, cell in enumerate(cells) if CALL in cell)
    wanted = ast.literal_eval("(" + cells[start].split(CALL)[1].split(")")[0] + ")")
    installed = stack_module.skip_cells_needing_missing_programs(wanted)
    assert installed == [n for n in wanted if n in absent]
    assert capsys.readouterr().out.count("\n") == (1 if installed else 0)
    skipped = 0
    for cell in cells[start + 1:]:
        transformed = ipython.transform_cell(cell)
        if not transformed.startswith(("print('skipped: ", 'print("skipped: ')):
            continue  # runs as written
        skipped += 1
        assert cell.startswith(NEEDS_MARK), f"an unmarked cell is skipped:\n{cell}"
        assert transformed.count("\n") == 1
        exec(transformed, {})  # the one print
        out = capsys.readouterr().out
        assert out.startswith("skipped: ") and out.count("\n") == 1
    assert (skipped > 0) == bool(installed)


# -- chapter 04b under nbval with programs hidden -------------------------------------------

def search_path_without(hidden: list[str], tmp_path: Path) -> str:
    """The course's search path with ``hidden`` programs gone: each folder that holds one is
    replaced by a folder of links to everything else in it."""
    names = {file for program in hidden for file in PACKAGE_FILES[program]}
    folders = []
    for i, folder in enumerate(stack_module.SEARCH_PATH.split(os.pathsep)):
        if folder and any(Path(folder, name).exists() for name in names):
            shadow = tmp_path / f"bin-{i}"
            shadow.mkdir()
            for entry in os.scandir(folder):
                if entry.name not in names:
                    (shadow / entry.name).symlink_to(entry.path)
            folder = str(shadow)
        folders.append(folder)
    return os.pathsep.join(folders)


# Each program missing alone, and all of them missing: the notebook end to end. The skipping
# itself is checked under every combination, cell by cell, by the test above; all present is
# the main suite's nbval run. Each case here runs the whole notebook, so only four do.
COMBINATIONS = [{name: name != missing for name in PROGRAMS} for missing in PROGRAMS] + [
    dict.fromkeys(PROGRAMS, False)]


@pytest.mark.parametrize("present", COMBINATIONS, ids=lambda present: ",".join(
    f"{name}-{'present' if here else 'absent'}" for name, here in present.items()))
def test_chapter_04b_passes_nbval_with_programs_hidden(present, tmp_path):
    for name, here in present.items():
        if here and shutil.which(name, path=stack_module.SEARCH_PATH) is None:
            pytest.skip(f"{name} is not installed here, so it cannot be present")
    hidden = [name for name, here in present.items() if not here]
    search_path = search_path_without(hidden, tmp_path)
    env = {**os.environ, "PATH": search_path, "MNIST_COURSE_SEARCH_PATH": search_path,
           "MNIST_COURSE_PROFILE": "quick"}
    env.pop("CI", None)  # in CI a missing program is an error, by design
    seen = subprocess.run(
        [sys.executable, "-c", "from mnist_course.serving.stack import missing_programs as m;"
         f"print(' '.join(m({PROGRAMS!r})))"], env=env, capture_output=True, text=True,
        check=True).stdout.split()
    assert seen == hidden, "the kernel would not see the programs hidden"
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--nbval", str(CHAPTER.relative_to(ROOT)),
         "-p", "no:cacheprovider", "-q"], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=600)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
