"""The repository's promises about its notebooks: paired, executed once top to bottom in the
full profile, stamped with the code they ran, free of errors, and solved in solutions/."""

import copy
import importlib
import inspect
import json
from pathlib import Path

import jupytext
import pytest

from mnist_course.course import notebooks

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = [
    path for folder in ("chapters", "solutions") for path in sorted((ROOT / folder).glob("*.ipynb"))
]
IDS = [str(p.relative_to(ROOT)) for p in NOTEBOOKS]


def test_there_are_notebooks():
    assert (ROOT / "chapters" / "00_setup_and_data.ipynb") in NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_outputs_are_one_clean_full_run(path):
    assert notebooks.problems(path) == []


def _cells(nb):
    return [(c.cell_type, c.source.strip(), sorted(c.metadata.get("tags", []))) for c in nb.cells]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_py_percent_twin_in_sync(path):
    twin = path.with_suffix(".py")
    assert twin.exists(), f"{twin} is missing: run `jupytext --sync {path}`"
    assert _cells(jupytext.read(path)) == _cells(jupytext.read(twin)), (
        f"{path.name} and {twin.name} differ: run `jupytext --sync {path}`"
    )


@pytest.mark.parametrize("path", sorted((ROOT / "chapters").glob("*.ipynb")), ids=lambda p: p.name)
def test_every_chapter_has_solutions(path):
    assert (ROOT / "solutions" / f"{path.stem}_solutions.ipynb").exists()


# -- the checks themselves must be able to fail --------------------------------------------

def _executed_notebook():
    return {
        "metadata": {}, "nbformat": 4, "nbformat_minor": 5,
        "cells": [
            {"cell_type": "code", "source": "PROFILE = 'full'", "execution_count": 1,
             "metadata": {"tags": ["parameters"], "papermill": {"duration": 1.0}},
             "outputs": []},
            {"cell_type": "markdown", "source": "text", "metadata": {}},
            {"cell_type": "code", "source": "print(1)", "execution_count": 2, "metadata": {},
             "outputs": [{"output_type": "stream", "name": "stdout", "text": "1\n"}]},
        ],
    }


def _write(tmp_path, nb):
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps(nb))
    return path


def test_stamp_then_clean(tmp_path):
    path = _write(tmp_path, _executed_notebook())
    notebooks.stamp(path, "full", 12.3)
    assert notebooks.problems(path) == []
    stamped = json.loads(path.read_text())
    assert "papermill" not in stamped["cells"][0]["metadata"]
    assert stamped["metadata"]["mnist_course"]["run_seconds"] == 12.3


@pytest.mark.parametrize("damage,expected", [
    (lambda nb: nb["cells"][2].update(source="print(2)"), "code changed"),
    (lambda nb: nb["cells"][2].update(execution_count=None), "no execution count"),
    (lambda nb: nb["cells"][2].update(execution_count=7), "not one top-to-bottom run"),
    (lambda nb: nb["cells"][2]["outputs"].append(
        {"output_type": "error", "ename": "E", "evalue": "", "traceback": []}), "error output"),
    (lambda nb: nb["cells"][0]["metadata"].update(tags=[]), "parameters"),
])
def test_each_broken_promise_is_reported(tmp_path, damage, expected):
    path = _write(tmp_path, _executed_notebook())
    notebooks.stamp(path, "full")
    nb = json.loads(path.read_text())
    damage(nb)
    path.write_text(json.dumps(nb))
    assert any(expected in p for p in notebooks.problems(path))


def test_quick_outputs_are_not_accepted(tmp_path):
    path = _write(tmp_path, copy.deepcopy(_executed_notebook()))
    notebooks.stamp(path, "quick")
    assert any("not 'full'" in p for p in notebooks.problems(path))


def test_progress_bars_are_stored_as_their_last_frame():
    outputs = [
        {"output_type": "stream", "name": "stderr", "text": "bar:  0%|\r"},
        {"output_type": "stream", "name": "stderr", "text": "bar: 50%|\rbar: 100%|\n"},
        {"output_type": "stream", "name": "stdout", "text": ["done\n"]},
        {"output_type": "display_data", "data": {"text/plain": "x"}, "metadata": {}},
        {"output_type": "stream", "name": "stdout", "text": "a\rb\n"},
    ]
    merged = notebooks.coalesce_streams(outputs)
    assert [o["output_type"] for o in merged] == ["stream", "stream", "display_data", "stream"]
    assert merged[0]["text"] == "bar: 100%|\n"
    assert merged[1]["text"] == "done\n" and merged[3]["text"] == "b\n"


def test_empty_displays_are_dropped():
    outputs = [
        {"output_type": "display_data", "metadata": {},
         "data": {"text/html": [], "text/plain": ["<IPython.core.display.HTML object>"]}},
        {"output_type": "display_data", "metadata": {},
         "data": {"text/html": ["<b>x</b>"], "text/plain": ["x"]}},
        {"output_type": "display_data", "metadata": {}, "data": {"text/plain": ["42"]}},
        {"output_type": "display_data", "metadata": {},  # display(claims_table(...))
         "data": {"application/x+json": [{"id": "C1"}], "text/plain": ["C1"]}},
        {"output_type": "display_data", "metadata": {},
         "data": {"application/x+json": [], "text/plain": ["nothing"]}},
    ]
    kept = notebooks.coalesce_streams(outputs)
    assert [o["data"].get("text/html") for o in kept] == [["<b>x</b>"], None, None]
    assert kept[-1]["data"]["application/x+json"] == [{"id": "C1"}]


# -- the stamp sees the package and the libraries --------------------------------------------

def _importing(source):
    nb = _executed_notebook()
    nb["cells"][2]["source"] = source
    return nb


def test_dependencies_follow_imports_through_the_package():
    files, external = notebooks.dependencies(
        _importing("from mnist_course.course.checks.ch01 import check\nimport numpy as np"))
    names = {f.relative_to(ROOT).as_posix() for f in files}
    assert {"mnist_course/__init__.py", "mnist_course/course/checks/__init__.py",
            "mnist_course/course/checks/core.py", "mnist_course/course/checks/ch01.py",
            "mnist_course/models.py", "mnist_course/training.py"} <= names
    assert not any("serving" in n or "ch03" in n for n in names)  # only what it imports
    assert {"numpy", "keras"} <= set(external) and "os" not in external


def test_magics_and_top_level_await_do_not_hide_imports():
    files, _ = notebooks.dependencies(_importing(
        "%matplotlib inline\n!ls\nfrom mnist_course.course import claims\nawait something()"))
    assert ROOT / "mnist_course" / "course" / "claims.py" in files


def test_a_changed_package_module_or_library_makes_outputs_stale(tmp_path):
    path = _write(tmp_path, _importing("from mnist_course.course import claims"))
    notebooks.stamp(path, "full")
    assert notebooks.problems(path) == []
    nb = json.loads(path.read_text())
    stamp = nb["metadata"]["mnist_course"]
    assert "mnist_course/course/claims.py" in stamp["package_sha256"]
    assert stamp["libraries"].get("numpy")
    stamp["package_sha256"]["mnist_course/course/claims.py"] = "0" * 64
    stamp["libraries"]["numpy"] = "0.0.1"
    path.write_text(json.dumps(nb))
    found = notebooks.problems(path)
    assert any("mnist_course/course/claims.py changed since the run" in p for p in found)
    assert any("library numpy: ran with 0.0.1" in p for p in found)


def test_an_old_stamp_without_the_package_is_stale(tmp_path):
    path = _write(tmp_path, _executed_notebook())
    notebooks.stamp(path, "full")
    nb = json.loads(path.read_text())
    del nb["metadata"]["mnist_course"]["package_sha256"]
    path.write_text(json.dumps(nb))
    assert any("old stamp" in p for p in notebooks.problems(path))


# -- Colab ----------------------------------------------------------------------------------

@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_notebook_opens_with_the_generated_colab_cell(path):
    nb = json.loads(path.read_text())
    assert notebooks.first_code_cell(nb) == notebooks.colab_cell(path.parent.name), (
        f"{path.name}: its first code cell is not the Colab set-up; regenerate it from "
        "book/_config.yml (mnist_course.course.notebooks.colab_cell)")


def test_the_colab_cell_does_nothing_here_and_everything_on_colab(monkeypatch):
    import sys
    import types

    from IPython.core.inputtransformer2 import TransformerManager

    code = TransformerManager().transform_cell(notebooks.colab_cell("chapters"))
    calls = []
    shell = types.SimpleNamespace(system=calls.append, run_line_magic=lambda *a: calls.append(a))
    exec(code, {"get_ipython": lambda: shell})
    assert calls == []
    monkeypatch.setitem(sys.modules, "google.colab", types.ModuleType("google.colab"))
    monkeypatch.setattr(sys, "path", list(sys.path))
    scope = {"get_ipython": lambda: shell}
    exec(code, scope)
    # IPython expands $url in a shell line from the cell's variables
    assert "git clone" in calls[0] and "$url" in calls[0] and "github.com" in scope["url"]
    assert calls[1][0] == "pip" and calls[2] == ("cd", "/content/mnist-course/chapters")


#: Where a chapter's lesson is code that lives in the package, the chapter shows that code,
#: read from the package as it runs (the objects named here, by chapter).
LESSONS = {
    "01_architectures": ("models.separable_conv", "models.se_units", "models.se_block"),
    "03_augmentation_adversarial": ("robustness.fgsm", "robustness.pgd"),
    "04a_tflite_quantization": ("export.to_tflite",),
    "04b_tf_serving": ("serving.versions.Batcher",),
    "06_troubleshooting": ("pruning.magnitude_mask", "pruning.MagnitudePruning"),
    "07b_continual_learning": ("continual.fisher_diagonal",),
}


@pytest.mark.parametrize("chapter", sorted(LESSONS))
def test_a_lesson_in_the_package_is_shown_from_its_live_source(chapter):
    shown = [
        "".join(output.get("data", {}).get("text/plain", ""))
        for cell in json.loads((ROOT / "chapters" / f"{chapter}.ipynb").read_text())["cells"]
        for output in cell.get("outputs", [])
    ]
    for name in LESSONS[chapter]:
        module, attribute = name.rsplit(".", 1)
        source = inspect.getsource(getattr(importlib.import_module(f"mnist_course.{module}"),
                                           attribute)).strip()
        assert any(source in text for text in shown), (
            f"{chapter} does not show the source of mnist_course.{name}: display it with "
            f"`Code(inspect.getsource(...))` where the chapter teaches it, then re-run the chapter"
        )


# -- every table and figure is read aloud ----------------------------------------------------

def _output_kind(output: dict) -> str | None:
    """'figure', 'table' or 'sentence' for one stored output; None for anything else (a
    progress bar, a bare list of numbers, source code)."""
    from mnist_course.course.claims import CLAIMS_MIME

    data = output.get("data", {})
    if "image/png" in data or "image/svg+xml" in data:
        return "figure"
    markdown = "".join(data.get("text/markdown", ""))
    if CLAIMS_MIME in data or ("|" in markdown and "---" in markdown):
        return "table"
    text = "".join(output.get("text", "")) or markdown
    if any(len(line.split()) >= 6 and line.rstrip()[-1:] in ".!?:)"
           for line in text.splitlines()):
        return "sentence"
    return None


def unread_results(nb: dict) -> list[str]:
    """Code cells whose last table or figure has no sentence printed after it in the cell.
    A sentence in the next cell does not count: the book can page-break or reorder there,
    and a learner re-running one cell sees the result without its reading."""
    unread = []
    for i, cell in enumerate(nb["cells"]):
        if cell["cell_type"] != "code":
            continue
        kinds = [_output_kind(o) for o in cell.get("outputs", [])]
        results = [k for k, kind in enumerate(kinds) if kind in ("figure", "table")]
        if results and "sentence" not in kinds[results[-1] + 1:]:
            unread.append(f"cell {i}: a {kinds[results[-1]]} with no sentence after it")
    return unread


def test_the_read_aloud_check_can_fail():
    figure = {"output_type": "display_data", "data": {"image/png": "", "text/plain": ""}}
    table = {"output_type": "execute_result",
             "data": {"text/markdown": "| a |\n|---|\n| 1 |", "text/plain": ""}}
    reading = {"output_type": "stream", "name": "stdout",
               "text": "The plain model wins by 0.4 points on 10,000 digits.\n"}
    bar = {"output_type": "stream", "name": "stderr", "text": "fit: 100%|████| 8/8 [00:10]\n"}

    def nb(*outputs):
        return {"cells": [{"cell_type": "code", "source": "", "outputs": list(outputs)}]}

    assert unread_results(nb(figure)) == ["cell 0: a figure with no sentence after it"]
    assert unread_results(nb(reading, table)) == ["cell 0: a table with no sentence after it"]
    assert unread_results(nb(figure, bar)) == ["cell 0: a figure with no sentence after it"]
    assert unread_results(nb(figure, table, reading)) == []
    timing = {"output_type": "stream", "name": "stdout", "text": "17 s for the two runs\n"}
    assert unread_results(nb(figure, timing)) == ["cell 0: a figure with no sentence after it"]
    both = {**reading, "text": reading["text"] + timing["text"]}
    assert unread_results(nb(figure, both)) == []


@pytest.mark.parametrize("path", sorted((ROOT / "chapters").glob("*.ipynb")),
                         ids=lambda p: p.name)
def test_every_table_and_figure_is_followed_by_its_reading(path):
    """DEVELOPERS.md: every result is read aloud, by a sentence computed from the run."""
    unread = unread_results(json.loads(path.read_text()))
    assert not unread, f"{path.name}: print a computed sentence after each:\n" + "\n".join(unread)
