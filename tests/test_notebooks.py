"""The repository's promises about its notebooks: paired, executed once top to bottom in the
full profile, stamped with the code they ran, free of errors, and solved in solutions/."""

import copy
import json
from pathlib import Path

import jupytext
import pytest

from mnist_course import notebooks

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
    ]
    kept = notebooks.coalesce_streams(outputs)
    assert [o["data"].get("text/html") for o in kept] == [["<b>x</b>"], None]
