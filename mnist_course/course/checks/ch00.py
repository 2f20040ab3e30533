"""Checkers of chapter 00 (setup and data): counting classes, model input, standardised
input, class means."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mnist_course.course.checks.core import Checker, Result, attempt, attempt_without


class Checks(Checker):
    """The exercises of this chapter; ``strict=True`` raises on failure (solutions)."""

    #: the training-pixel statistics the standardise exercise is tried with (not MNIST's:
    #: a solution must use the arguments it is given)
    TRY_MEAN, TRY_STD = 0.2, 0.25

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
        from mnist_course import data

        out, problem = attempt_without((data.to_model_input,), fn, images.copy())
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

    def standardise(self, fn: Callable[[np.ndarray, float, float], np.ndarray]) -> Result:
        """``fn(images, mean, std)`` maps uint8 images, one ``(28, 28)`` or a batch
        ``(N, 28, 28)``, to float32 ``(N, 28, 28, 1)`` holding ``(pixel / 255 - mean) / std``
        (N = 1 for one image), leaving its input as it was; ``data.to_model_input`` is
        switched off while it runs."""
        from mnist_course import data

        mean, std = self.TRY_MEAN, self.TRY_STD
        images = np.random.default_rng(3).integers(0, 256, (3, 28, 28)).astype(np.uint8)
        images[0, 0, 0], images[0, 0, 1] = 0, 255
        expected = ((images.astype(np.float64) / 255 - mean) / std)[..., np.newaxis]
        given = images.copy()
        out, problem = attempt_without((data.to_model_input,), fn, given, mean, std)
        if problem:
            return self._report("standardise", [problem])
        out, problems = np.asarray(out), []
        if not np.array_equal(given, images):
            problems.append("your function changed the images it was given: work on a copy "
                            "(a caller's data must stay as it was).")
        if out.shape != (3, 28, 28, 1):
            problems.append(f"for 3 images the shape should be (3, 28, 28, 1), got {out.shape}.")
        elif out.dtype != np.float32:
            problems.append(f"dtype should be float32, got {out.dtype}: NumPy promotes uint8 "
                            "divided by a Python number to float64; convert explicitly.")
        elif not np.allclose(out, expected, atol=1e-4):
            if np.allclose(out, (images[..., None] - mean) / std, atol=1e-3):
                hint = "the pixels were not scaled to [0, 1] (divide by 255) first"
            elif np.allclose(out, images[..., None] / 255.0, atol=1e-4):
                hint = "the pixels are scaled but not standardised (subtract mean, divide by std)"
            elif np.allclose(out, images[..., None] / 255.0 * std + mean, atol=1e-4):
                hint = "that is the inverse: subtract the mean first, then divide by the std"
            else:
                hint = (f"a background pixel (0) should become {-mean / std:.3f} and full ink "
                        f"(255) {(1 - mean) / std:.3f}; got {float(out[0, 0, 0, 0]):.3f} and "
                        f"{float(out[0, 0, 1, 0]):.3f}")
            problems.append(f"values should be (pixel / 255 - mean) / std: {hint}.")
        if not problems:
            one, problem = attempt(fn, images[1].copy(), mean, std)
            one = None if problem else np.asarray(one)
            if problem or one.shape != (1, 28, 28, 1):
                problems.append("one image (28, 28) should give a batch of one, (1, 28, 28, 1)"
                                f"; got {problem or one.shape}.")
            elif not np.allclose(one, expected[1:2], atol=1e-4):
                problems.append("a single image comes out different from the same image in a "
                                "batch.")
        return self._report("standardise", problems)

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
