"""Chapter 00's standardise exercise and the refusal of the package's own function."""

import numpy as np
import pytest

from mnist_course import data
from mnist_course.course.checks import ch00


def right_standardise(images, mean, std):
    images = np.asarray(images)
    if images.ndim == 2:
        images = images[np.newaxis]
    return ((images.astype(np.float32) / 255.0 - mean) / std)[..., np.newaxis].astype(
        np.float32
    )


def test_standardise_accepts_a_right_answer():
    assert ch00.check.standardise(right_standardise).passed
    assert ch00.strict_check.standardise(right_standardise).passed


@pytest.mark.parametrize("wrong,words", [
    (lambda x, m, s: ((x / 255.0 - m) / s)[..., None], "float64"),
    (lambda x, m, s: ((x.astype(np.float32) - m) / s)[..., None], "divide by 255"),
    (lambda x, m, s: (x.astype(np.float32) / 255)[..., None], "not standardised"),
    (lambda x, m, s: ((x.astype(np.float32) / 255 - m) / s), "(3, 28, 28, 1)"),
    (lambda x, m, s: ((x.astype(np.float32) / 255 - 0.1307) / 0.3081)[..., None],
     "background pixel"),
])
def test_standardise_explains_mistakes(wrong, words):
    result = ch00.check.standardise(wrong)
    assert not result.passed and words in result.problems[0]
    with pytest.raises(AssertionError, match="standardise"):
        ch00.strict_check.standardise(wrong)


def test_standardise_needs_single_images_and_leaves_input_alone():
    def batch_only(x, m, s):
        return ((x.astype(np.float32) / 255 - m) / s)[..., None]

    assert "batch of one" in ch00.check.standardise(batch_only).problems[0]

    def in_place(x, m, s):
        x[...] = 0
        return right_standardise(x, m, s)

    assert "changed the images" in ch00.check.standardise(in_place).problems[0]


def test_the_package_function_is_refused():
    def borrowing(x, m, s):
        return (data.to_model_input(x) - m) / s

    result = ch00.check.standardise(borrowing)
    assert not result.passed and "to_model_input" in result.problems[0]
    assert not ch00.check.to_model_input(data.to_model_input).passed
    assert not ch00.check.to_model_input(lambda x: data.to_model_input(x)).passed
