"""MNIST's preprocessing in the graph (``mnist_course.canvas``) against the NumPy one that
brought the UCI digits into MNIST's format (``mnist_course.uci.mnist_format``), and the
``canvas`` signature on an exported model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from mnist_course import canvas, uci
from mnist_course.course.profile import import_tensorflow

tf = import_tensorflow()
ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "models" / "mnist" / "1"


@pytest.fixture(scope="module")
def uci_both():
    from sklearn import datasets

    digits = datasets.load_digits()
    numpy_way = uci.mnist_format(digits.images, max_value=16.0).astype(np.float64)
    raw = np.round(digits.images * 255 / 16).astype(np.uint8)  # 0-16 as 8-bit grey
    graph_way = tf.function(canvas.preprocess)(raw).numpy().astype(np.float64)
    return numpy_way, graph_way, digits.target


def test_graph_preprocessing_matches_numpys_on_uci_digits(uci_both):
    numpy_way, graph_way, _ = uci_both
    assert graph_way.shape == numpy_way.shape == (1797, 28, 28)
    # same box: the longer side is 20 pixels in both (one pixel of edge blur aside)
    def longer_side(image):
        rows, cols = np.flatnonzero(image.any(1)), np.flatnonzero(image.any(0))
        return max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
    sides = np.array([[longer_side(a), longer_side(b)] for a, b in zip(numpy_way, graph_way)])
    assert np.abs(sides[:, 0] - sides[:, 1]).max() <= 1
    # same place: centres of mass within one pixel (each rounds its shift to a pixel)
    centres = np.array([[ndimage.center_of_mass(a), ndimage.center_of_mass(b)]
                        for a, b in zip(numpy_way, graph_way)])
    assert np.abs(centres[:, 0] - centres[:, 1]).max() <= 1.0
    # the graph centres to the nearest pixel (rounding to 8 bits moves it a hair)
    assert np.abs(centres[:, 1] - 13.5).max() <= 0.55
    # same ink: pixel values differ at the edges only (bilinear edge handling differs:
    # scipy's zoom blends with zeros beyond the crop, TensorFlow repeats the edge)
    assert np.abs(graph_way - numpy_way).mean() < 4.0  # of 255
    correlation = [np.corrcoef(a.ravel(), b.ravel())[0, 1]
                   for a, b in zip(numpy_way, graph_way)]
    assert np.median(correlation) > 0.98


@pytest.mark.skipif(not SHIPPED.exists(), reason="the course's model (models/mnist/1) is "
                    "not there")
def test_a_model_reads_both_ways_alike(uci_both):
    numpy_way, graph_way, labels = uci_both
    served = tf.saved_model.load(str(SHIPPED)).signatures["serving_default"]
    (key,) = served.structured_input_signature[1]

    def labels_of(images):
        x = tf.constant(images[..., np.newaxis] / 255.0, tf.float32)
        return next(iter(served(**{key: x}).values())).numpy().argmax(axis=1)

    a, b = labels_of(numpy_way), labels_of(graph_way)
    assert (a == b).mean() >= 0.95
    assert abs((a == labels).mean() - (b == labels).mean()) <= 0.01


def test_the_graph_refuses_blank_and_oversized_canvases():
    with pytest.raises(tf.errors.InvalidArgumentError, match="draw a digit first"):
        canvas.preprocess(np.zeros((1, 64, 64), np.uint8))
    with pytest.raises(tf.errors.InvalidArgumentError, match="at most 1024x1024"):
        canvas.preprocess(np.full((1, 8, canvas.MAX_SIDE + 1), 255, np.uint8))


def test_export_keeps_serving_default_and_adds_canvas(tmp_path):
    import keras

    from mnist_course.models import lenet5

    keras.utils.set_random_seed(0)
    model = lenet5()
    path = canvas.export_saved_model(model, tmp_path, "mnist", 3)
    assert path == tmp_path / "mnist" / "3"
    loaded = tf.saved_model.load(str(path))
    assert set(loaded.signatures) == {"serving_default", canvas.SIGNATURE}
    images = np.random.default_rng(0).random((2, 28, 28, 1), dtype=np.float32)
    assert np.allclose(loaded.serve(images).numpy(), model(images).numpy(), atol=1e-5)
    drawing = np.zeros((1, 200, 120), np.uint8)
    drawing[0, 20:180, 50:70] = 255
    out = loaded.signatures[canvas.SIGNATURE](canvas=tf.constant(drawing))
    expected = model(tf.cast(out["image"], tf.float32)[..., None] / 255.0)
    assert np.allclose(out["probabilities"].numpy(), tf.nn.softmax(expected).numpy(),
                       atol=1e-5)
    with pytest.raises(FileExistsError):
        canvas.export_saved_model(model, tmp_path, "mnist", 3)
