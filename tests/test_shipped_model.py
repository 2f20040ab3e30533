"""The course's model, as chapter 08 ships it in `models/`: each file loads, scores what its
card says on the 10,000 test digits, and agrees with the chapter's stored C12 row."""

import json
from pathlib import Path

import numpy as np
import pytest

from mnist_course import data, export
from mnist_course.course import ledger
from mnist_course.course.profile import import_tensorflow

ROOT = Path(__file__).resolve().parents[1]
MODELS = ROOT / "models"
CHAPTER = ROOT / "chapters" / "08_final_model.ipynb"
MISSING = ("run chapter 08 in the full profile "
           "(`make reproduce NOTEBOOKS=chapters/08_final_model.ipynb`)")


@pytest.fixture(scope="module")
def card() -> dict:
    path = MODELS / "model_card.json"
    assert path.is_file(), f"{path} is missing: {MISSING}"
    return json.loads(path.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def test_set():
    split = data.load_split()
    return split.x_test, split.y_test


@pytest.fixture(scope="module")
def saved_model_accuracy(test_set) -> float:
    tf = import_tensorflow()
    loaded = tf.saved_model.load(str(MODELS / "mnist" / "1"))
    serve = loaded.signatures["serving_default"]
    x = data.to_model_input(test_set[0])
    logits = np.concatenate([next(iter(serve(tf.constant(x[i:i + 1000])).values())).numpy()
                             for i in range(0, len(x), 1000)])
    return float(np.mean(logits.argmax(axis=1) == test_set[1]))


def test_the_card_is_a_full_run_of_chapter_08(card):
    assert card["profile"] == "full"
    assert card["trained_by"]["notebook"] == "chapters/08_final_model.ipynb"
    assert card["metrics"]["n_test"] == 10_000
    for key in ("intended_use", "data", "limits", "recipe", "history", "seed"):
        assert card[key] not in (None, "", {}), f"the model card has no {key}"
    assert len(card["history"]["val_accuracy"]) == card["recipe"]["epochs"]


def test_the_saved_model_scores_what_its_card_says(card, saved_model_accuracy):
    stated = card["metrics"]["accuracy"]["estimate"]
    assert abs(saved_model_accuracy - stated) <= 1 / 10_000, (saved_model_accuracy, stated)
    assert saved_model_accuracy >= 0.996, f"the course's model scores {saved_model_accuracy:.2%}"


def test_the_int8_file_loses_at_most_0_2_points(card, saved_model_accuracy, test_set):
    int8 = export.TFLiteModel(MODELS / "mnist_int8.tflite")
    assert "float32" not in int8.tensor_types(), "the shipped int8 file holds float tensors"
    accuracy = float(np.mean(int8.predict(data.to_model_input(test_set[0])).argmax(axis=1)
                             == test_set[1]))
    assert accuracy == pytest.approx(card["int8"]["accuracy"], abs=1e-12)
    assert accuracy >= saved_model_accuracy - 0.002


def test_the_chapter_c12_row_is_this_model(card):
    (row,) = [r for r in ledger.stored_claims(CHAPTER) if r["id"] == "C12"]
    assert row["estimate"] == pytest.approx(100 * card["metrics"]["accuracy"]["estimate"])
    assert row["n"] == card["metrics"]["n_test"]
    assert row["converged"] == {"the final model": card["converged"]}
