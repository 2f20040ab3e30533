"""Checkers of chapter 00 (setup and data): counting classes, model input, class means."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mnist_course.course.checks.core import Checker, Result, attempt


class Checks(Checker):
    """The exercises of this chapter; ``strict=True`` raises on failure (solutions)."""


    def count_classes(self, fn: Callable[[np.ndarray], np.ndarray]) -> Result:
        """``fn(labels)`` returns how many times each digit 0-9 occurs, shape (10,)."""
        labels = np.random.default_rng(0).integers(0, 10, 500).astype(np.uint8)
        labels[labels == 9] = 3  # digit 9 absent: its count must still be reported, as 0
        counts, problem = attempt(fn, labels)
        if problem:
            return self._report("count_classes", [problem])
        counts = np.asarray(counts)
        problems = []
        if counts.shape != (10,):
            problems.append(
                f"expected shape (10,), one count per digit, got {counts.shape}: a digit that "
                "never occurs (here 9) still needs its count, 0."
            )
        elif not np.array_equal(counts, np.bincount(labels, minlength=10)):
            problems.append(
                "the counts are wrong: on a test set where digit 9 never occurs, "
                f"got {counts.tolist()}."
            )
        return self._report("count_classes", problems)

    def to_model_input(self, fn: Callable[[np.ndarray], np.ndarray]) -> Result:
        """``fn(images)`` maps uint8 (N, 28, 28) to float32 (N, 28, 28, 1) in [0, 1]."""
        images = np.random.default_rng(1).integers(0, 256, (4, 28, 28)).astype(np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255
        out, problem = attempt(fn, images.copy())
        if problem:
            return self._report("to_model_input", [problem])
        out = np.asarray(out)
        problems = []
        if out.shape != (4, 28, 28, 1):
            problems.append(f"shape should be (4, 28, 28, 1) for 4 images, got {out.shape}.")
        if out.dtype != np.float32:
            problems.append(f"dtype should be float32, got {out.dtype}.")
        if not problems and not np.allclose(out[..., 0], images / 255.0, atol=1e-6):
            low, high = float(out.min()), float(out.max())
            problems.append(f"values should be pixel/255, in [0, 1]; got range [{low}, {high}].")
        return self._report("to_model_input", problems)

    def class_means(self, fn: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> Result:
        """``fn(images, labels)`` returns the mean image of each digit, shape (10, 28, 28)."""
        rng = np.random.default_rng(2)
        labels = np.repeat(np.arange(10), 3).astype(np.uint8)
        images = rng.integers(0, 256, (30, 28, 28)).astype(np.uint8)
        means, problem = attempt(fn, images, labels)
        if problem:
            return self._report("class_means", [problem])
        means = np.asarray(means)
        expected = np.stack([images[labels == d].mean(axis=0) for d in range(10)])
        problems = []
        if means.shape != (10, 28, 28):
            problems.append(f"expected shape (10, 28, 28), got {means.shape}.")
        elif not np.allclose(means, expected, atol=1e-3):
            if np.allclose(means, expected.astype(np.uint8), atol=1):
                problems.append("the means were rounded: compute them in floating point.")
            else:
                problems.append("the means are wrong: average the images of each digit alone.")
        return self._report("class_means", problems)


#: For the chapter: explains, never raises.
check = Checks(strict=False)
#: For the solutions notebook: raises AssertionError on any problem.
strict_check = Checks(strict=True)
