"""Checkers of chapter 05 (evaluation): expected calibration error, a corruption of the
learner's own, temperature scaling fitted on validation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mnist_course.course.checks.core import Checker, Result, attempt, attempt_without


def _overconfident(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits of a made-up classifier that is right about 80% of the time but speaks with
    near-certainty: what temperature scaling is for."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, n)
    guess = np.where(rng.random(n) < 0.8, labels, rng.integers(0, 10, n))
    logits = rng.normal(0.0, 1.0, (n, 10))
    logits[np.arange(n), guess] += 8.0
    return logits, labels


class Checks(Checker):
    """The exercises of this chapter; ``strict=True`` raises on failure (solutions)."""

    def ece(self, fn: Callable) -> Result:
        """``fn(probabilities, labels, bins=15)`` -> expected calibration error."""
        from mnist_course import report

        originals = (report.expected_calibration_error, report.reliability)
        # hand-made: two bins used. Four predictions at 0.95 confidence, three right (gap
        # 0.2); two at 0.55, one right (gap 0.05): ECE = 4/6 * 0.2 + 2/6 * 0.05 = 0.15
        top = np.array([0.95, 0.95, 0.95, 0.95, 0.55, 0.55])
        probabilities = np.repeat(((1 - top) / 9)[:, None], 10, axis=1)
        probabilities[:, 0] = top  # every prediction is digit 0
        labels = np.array([0, 0, 0, 5, 0, 5])
        problems = []
        got, problem = attempt_without(originals, fn, probabilities, labels, 15)
        if problem:
            return self._report("ece", [problem])
        if not isinstance(got, (float, np.floating)) or not np.isclose(got, 0.15):
            hint = ""
            if isinstance(got, (float, np.floating)) and np.isclose(got, 0.125):
                hint = " Weight each bin's gap by its share of predictions, not equally."
            problems.append(f"on six hand-made predictions (confidences 0.95 x4, 0.55 x2) "
                            f"expected 0.15, got {got!r}.{hint}")
        rng = np.random.default_rng(1)
        logits, labels = _overconfident(500, 2)
        probabilities = np.exp(logits / rng.uniform(1, 4))
        probabilities /= probabilities.sum(axis=1, keepdims=True)
        probabilities[0] = 0.0
        probabilities[0, labels[0]] = 1.0  # a confidence of exactly 1: the last bin
        for bins in (15, 10):
            got, problem = attempt_without(originals, fn, probabilities, labels, bins)
            expected = report.expected_calibration_error(probabilities, labels, bins)
            if problem or not np.isclose(got, expected):
                problems.append(problem or f"on 500 predictions with {bins} bins expected "
                                f"{expected:.5f}, got {got!r}: are the bins (b/{bins}, "
                                f"(b+1)/{bins}], with a confidence of 1 in the last?")
                break
        return self._report("ece", problems)

    def corruption(self, fn: Callable) -> Result:
        """``fn(images, labels, seed)`` -> ``(images, labels)``: uint8, same shape, changed,
        deterministic, labels untouched."""
        from mnist_course import data

        split = data.load_split()
        images, labels = split.x_test[:64].copy(), split.y_test[:64].copy()
        originals = images.copy(), labels.copy()
        got, problem = attempt(fn, images, labels, 0)
        if problem:
            return self._report("corruption", [problem])
        try:
            out, out_labels = got
        except (TypeError, ValueError):
            return self._report("corruption", [
                f"return a pair (images, labels), got {type(got).__name__}."])
        out, out_labels = np.asarray(out), np.asarray(out_labels)
        problems = []
        if not (np.array_equal(images, originals[0]) and np.array_equal(labels, originals[1])):
            problems.append("the input arrays were modified in place: work on a copy.")
        if out.dtype != np.uint8 or out.shape != images.shape:
            problems.append(f"return uint8 images of shape {images.shape}, got {out.dtype} "
                            f"{out.shape}.")
            return self._report("corruption", problems)
        if not np.array_equal(out_labels, originals[1]):
            problems.append("the labels changed: a corruption must keep every label, in order.")
        if np.mean(np.abs(out.astype(int) - originals[0].astype(int))) < 1.0:
            problems.append("the images are (almost) unchanged: corrupt them visibly.")
        again, _ = attempt(fn, originals[0].copy(), originals[1].copy(), 0)
        other, _ = attempt(fn, originals[0].copy(), originals[1].copy(), 1)
        if again is None or not np.array_equal(np.asarray(again[0]), out):
            problems.append("the same seed gave different images: draw all randomness from "
                            "np.random.default_rng(seed).")
        if other is not None and np.array_equal(np.asarray(other[0]), out):
            problems.append("seeds 0 and 1 gave the same images: use the seed.")
        return self._report("corruption", problems)

    def temperature(self, fn: Callable) -> Result:
        """``fn(val_logits, val_labels)`` -> T > 0 that lowers test ECE."""
        from mnist_course import report

        val_logits, val_labels = _overconfident(2000, 10)
        test_logits, test_labels = _overconfident(2000, 11)
        got, problem = attempt_without((report.fit_temperature,), fn, val_logits, val_labels)
        if problem:
            return self._report("temperature", [problem])
        problems = []
        if not isinstance(got, (float, int, np.floating)) or not got > 0:
            return self._report("temperature", [f"return one positive number, got {got!r}."])
        best = report.fit_temperature(val_logits, val_labels)
        before = report.expected_calibration_error(report.softmax(test_logits), test_labels)
        after = report.expected_calibration_error(report.softmax(test_logits, got), test_labels)
        if not abs(np.log(got / best)) < 0.05:
            hint = " (below 1: this model is over-confident, so T should soften it)" \
                if got < 1 else ""
            problems.append(f"T = {float(got):.3f}, but the validation NLL is lowest near "
                            f"T = {best:.3f}{hint}.")
        if not after < before:
            problems.append(f"test ECE did not fall ({before:.4f} -> {after:.4f}).")
        return self._report("temperature", problems)


#: For the chapter: explains, never raises.
check = Checks(strict=False)
#: For the solutions notebook: raises AssertionError on any problem.
strict_check = Checks(strict=True)
