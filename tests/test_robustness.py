"""The cluttered-background generator: deterministic, digit kept on top, range and labels kept."""

import numpy as np
import pytest

from mnist_course import data, robustness


@pytest.fixture(scope="module")
def sample():
    mnist = data.load_mnist()
    return mnist.x_test[:200], mnist.y_test[:200]


@pytest.mark.parametrize("kind", robustness.CLUTTER_KINDS)
def test_deterministic_for_a_seed(sample, kind):
    images, _ = sample
    a = robustness.cluttered(images, kind, seed=3)
    assert np.array_equal(a, robustness.cluttered(images, kind, seed=3))
    assert not np.array_equal(a, robustness.cluttered(images, kind, seed=4))


@pytest.mark.parametrize("kind", robustness.CLUTTER_KINDS)
def test_digit_on_top_and_range_kept(sample, kind):
    images, _ = sample
    out = robustness.cluttered(images, kind, seed=0, strength=0.5)
    assert out.dtype == np.uint8 and out.shape == images.shape
    assert np.all(out >= images)                        # strokes never darkened or erased
    background = images == 0
    assert out[background].max() <= 128                # clutter bounded by strength
    assert out[background].mean() > 10                  # and really there
    assert np.array_equal(images, data.load_mnist().x_test[:200])  # input untouched


def test_cluttered_set_keeps_labels_in_order(sample):
    images, labels = sample
    x, y = robustness.cluttered_set(images, labels, seed=1)
    assert x.shape == (400, 28, 28) and np.array_equal(y, np.concatenate([labels, labels]))
    assert np.array_equal(x[:200], robustness.cluttered(images, "noise", seed=2))
    assert np.array_equal(x[200:], robustness.cluttered(images, "digits", seed=3))


def test_bad_input_is_explained(sample):
    images, labels = sample
    with pytest.raises(ValueError, match="uint8 images of shape"):
        robustness.cluttered(images.astype(np.float32))
    with pytest.raises(ValueError, match="unknown clutter kind"):
        robustness.cluttered(images, "fog")
    with pytest.raises(ValueError, match="strength"):
        robustness.cluttered(images, strength=0)
    with pytest.raises(ValueError, match="200 images but 10 labels"):
        robustness.cluttered_set(images, labels[:10])
