"""The evaluation report (chapter 05): its measures on hand-made inputs with known answers,
the corruptions, and every bad input refused with a message that names it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from mnist_course import corruptions, report
from mnist_course.course import claims


def test_ece_on_hand_made_probabilities():
    # four predictions at 0.95 confidence, three right; two at 0.55, one right
    top = np.array([0.95, 0.95, 0.95, 0.95, 0.55, 0.55])
    probabilities = np.repeat(((1 - top) / 9)[:, None], 10, axis=1)
    probabilities[:, 0] = top
    labels = np.array([0, 0, 0, 5, 0, 5])
    assert report.expected_calibration_error(probabilities, labels) == pytest.approx(
        4 / 6 * 0.2 + 2 / 6 * 0.05)
    table = report.reliability(probabilities, labels)
    assert table["count"][14] == 4 and table["count"][8] == 2 and sum(table["count"]) == 6
    assert table["accuracy"][14] == pytest.approx(0.75)


def test_ece_is_zero_when_confidence_matches_accuracy():
    probabilities = np.zeros((4, 10))
    probabilities[:, 3] = 1.0
    assert report.expected_calibration_error(probabilities, np.array([3, 3, 3, 3])) == 0.0
    assert report.expected_calibration_error(probabilities, np.array([1, 1, 1, 1])) == 1.0


def test_temperature_scaling_softens_an_overconfident_model():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 10, 3000)
    guess = np.where(rng.random(3000) < 0.8, labels, rng.integers(0, 10, 3000))
    logits = rng.normal(size=(3000, 10))
    logits[np.arange(3000), guess] += 8.0
    t = report.fit_temperature(logits[:1500], labels[:1500])
    assert t > 1.0
    before = report.expected_calibration_error(report.softmax(logits[1500:]), labels[1500:])
    after = report.expected_calibration_error(report.softmax(logits[1500:], t), labels[1500:])
    assert after < before / 2
    # the winner never changes
    assert np.array_equal(report.softmax(logits, t).argmax(1), logits.argmax(1))


@pytest.mark.parametrize("k,n", [(9935, 10000), (37, 40), (0, 50), (50, 50)])
def test_wilson_interval_matches_the_closed_form(k, n):
    """The accuracy interval (scipy.stats) against Wilson's (1927) formula, written out."""
    import math

    z, p = 1.959963984540054, k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    m = claims.binomial_interval(k, n)
    assert m.low == pytest.approx(max(0.0, centre - half), abs=1e-9)
    assert m.high == pytest.approx(min(1.0, centre + half), abs=1e-9)


def test_most_confused_pairs():
    confusion = np.diag([100] * 10)
    confusion[3, 5], confusion[7, 9], confusion[9, 7] = 4, 7, 2
    assert report.most_confused(confusion, k=2) == [(7, 9, 7), (3, 5, 4)]


def _tiny_model(n: int = 300):
    """A linear map of the pixels that returns the right digit for the first ``n`` test-like
    images, whatever they look like: enough to check the report's plumbing."""
    def logits(x):
        x = np.asarray(x)
        score = x.reshape(len(x), -1).sum(axis=1)
        out = np.zeros((len(x), 10))
        out[np.arange(len(x)), (score * 7).astype(int) % 10] = 5.0
        return out
    return logits


def test_report_on_a_tiny_model_has_every_measure():
    rng = np.random.default_rng(0)
    images = (rng.random((120, 28, 28)) * 255).astype(np.uint8)
    labels = rng.integers(0, 10, 120)
    stress = report.stress_sets(images[:40])
    uci = (images[:30], labels[:30])
    rep = report.evaluate(_tiny_model(), images, labels, "tiny", stress=stress,
                          stress_labels=labels[:40], uci=uci, latency_runs=5)
    assert np.array(rep.confusion).shape == (10, 10) and np.sum(rep.confusion) == 120
    assert len(rep.per_class["f1"]) == 10
    assert set(rep.noise) == set(report.NOISE_SIGMAS)
    assert set(rep.rotation) == set(report.ROTATIONS)
    assert set(rep.corruptions) == set(corruptions.KINDS)
    assert 0 <= rep.corruption_mean <= 1 and 0 <= rep.uci_accuracy <= 1
    assert rep.accuracy.low <= rep.accuracy.estimate <= rep.accuracy.high
    assert set(rep.latency_ms) >= {"p50", "p99"}
    card = json.loads(rep.model_card("testing", "random pixels", "none"))
    assert card["metrics"]["accuracy"]["method"].startswith("Wilson")
    assert "samples" not in card["metrics"]["latency_ms"]


def test_report_works_on_a_keras_model():
    import keras

    model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(10)])
    images = np.zeros((20, 28, 28), np.uint8)
    rep = report.evaluate(model, images, np.zeros(20, int), "keras", latency_runs=3)
    assert rep.n_test == 20 and rep.noise == {}


@pytest.mark.parametrize("images,labels,message", [
    (np.zeros((5, 27, 28), np.uint8), np.zeros(5, int), r"shape \(N, 28, 28\)"),
    (np.zeros((0, 28, 28), np.uint8), np.zeros(0, int), "N > 0"),
    (np.zeros((5, 28, 28), np.int32), np.zeros(5, int), "uint8 .* or float"),
    (np.full((5, 28, 28), 255.0), np.zeros(5, int), r"\[0, 1\].*divide .* by 255"),
    (np.full((5, 28, 28), -0.5), np.zeros(5, int), r"\[0, 1\]"),
    (np.full((5, 28, 28), np.nan), np.zeros(5, int), r"\[0, 1\]"),
    (np.zeros((5, 28, 28), np.uint8), np.array([0, 1, 2, 10, 3]), "digits 0-9.*10"),
    (np.zeros((5, 28, 28), np.uint8), np.array([0, 1, 2, -1, 3]), "digits 0-9"),
    (np.zeros((5, 28, 28), np.uint8), np.zeros(4, int), "5 images but 4 labels"),
    (np.zeros((5, 28, 28), np.uint8), np.zeros(5, float), "integers"),
])
def test_bad_input_is_refused_with_a_message(images, labels, message):
    with pytest.raises(ValueError, match=message):
        report.evaluate(_tiny_model(), images, labels, "bad")


def test_a_model_it_cannot_call_is_refused():
    with pytest.raises(TypeError, match="Keras model, a TFLiteModel or a function"):
        report.logits_function(42)


# -- corruptions ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def digits():
    from mnist_course import data

    return data.load_mnist().x_test[:32]


@pytest.mark.parametrize("kind", corruptions.KINDS)
def test_each_corruption_is_deterministic_in_range_and_changes_the_digit(kind, digits):
    before = digits.copy()
    a = corruptions.corrupt(digits, kind, seed=0)
    assert np.array_equal(digits, before), "the input must not be modified"
    assert a.dtype == np.uint8 and a.shape == digits.shape
    assert np.array_equal(a, corruptions.corrupt(digits, kind, seed=0))
    assert np.mean(np.abs(a.astype(int) - digits.astype(int))) > 1.0
    if kind not in ("brightness", "canny_edges"):  # these two have no randomness
        assert not np.array_equal(a, corruptions.corrupt(digits, kind, seed=1))


def test_corrupt_refuses_unknown_kinds_and_model_input():
    with pytest.raises(ValueError, match="unknown corruption 'snow'"):
        corruptions.corrupt(np.zeros((1, 28, 28), np.uint8), "snow")
    with pytest.raises(ValueError, match="uint8 images of shape"):
        corruptions.corrupt(np.zeros((1, 28, 28, 1), np.float32), "fog")
