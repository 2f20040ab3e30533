"""Checkers of chapter 07c (multimodal fusion): late fusion, modality dropout, and where
fusion stops helping."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import stats

from mnist_course.course.checks.core import Checker, Result, attempt_without


def _probabilities(rng: np.random.Generator, n: int = 6) -> np.ndarray:
    p = rng.random((n, 10))
    return p / p.sum(axis=1, keepdims=True)


def _first_without_gain(levels, fused, alone):
    """The reference answer: the first level whose paired 95% t-interval of fused - alone is
    not entirely above zero."""
    diff = np.asarray(fused, float) - np.asarray(alone, float)
    for level, d in zip(levels, diff.T):
        sem = stats.sem(d)
        low = d.mean() if sem == 0 else stats.t.interval(0.95, len(d) - 1, d.mean(), sem)[0]
        if not low > 0:
            return level
    return None


class Checks(Checker):
    """The exercises of this chapter; ``strict=True`` raises on failure (solutions)."""

    def late_fusion(self, fn: Callable) -> Result:
        """``fn(p_image, p_sequence, weight)``: the weighted mean of the probabilities."""
        from mnist_course import multimodal

        originals = (multimodal.late_fusion,)
        rng = np.random.default_rng(2)
        a, b = _probabilities(rng), _probabilities(rng)
        problems = []
        for weight in (0.5, 0.8, 0.0, 1.0):
            got, problem = attempt_without(originals, fn, a.copy(), b.copy(), weight)
            if problem:
                return self._report("late_fusion", [problem])
            got = np.asarray(got, float)
            expected = weight * a + (1 - weight) * b
            if got.shape != expected.shape:
                problems.append(f"expected shape {expected.shape}, got {got.shape}.")
                break
            if not np.allclose(got, expected):
                hint = ""
                if np.allclose(got, (1 - weight) * a + weight * b):
                    hint = " The weight belongs to the image's probabilities (the first argument)."
                elif np.allclose(got, a * b):
                    hint = " Late fusion here is a weighted mean, not a product."
                problems.append(f"with weight {weight} the result is not weight * p_image + "
                                f"(1 - weight) * p_sequence.{hint}")
                break
        for bad in (-0.1, 1.5):
            _, problem = attempt_without(originals, fn, a, b, bad)
            if not (problem and "ValueError" in problem):
                problems.append(f"a weight of {bad} is outside [0, 1]: raise ValueError.")
                break
        return self._report("late_fusion", problems)

    def modality_dropout(self, fn: Callable) -> Result:
        """``fn(images, sequences, rate, rng)``: copies; a ``rate`` share lose one modality."""
        from mnist_course import multimodal

        originals = (multimodal.modality_dropout,)
        n = 4000
        images = np.ones((n, 4, 4, 1), np.float32)
        sequences = np.ones((n, 8, 4), np.float32)
        got, problem = attempt_without(originals, fn, images, sequences, 0.3,
                                       np.random.default_rng(0))
        if problem:
            return self._report("modality_dropout", [problem])
        try:
            out_images, out_sequences = (np.asarray(g) for g in got)
        except (TypeError, ValueError):
            return self._report("modality_dropout", [
                f"return a pair (images, sequences), got {type(got).__name__}."])
        problems = []
        if out_images.shape != images.shape or out_sequences.shape != sequences.shape:
            return self._report("modality_dropout", [
                "return arrays of the same shapes as the inputs."])
        if not (images == 1).all() or not (sequences == 1).all():
            problems.append("the inputs were changed: work on copies (np.array(x, copy=True)).")
        no_image = (out_images == 0).reshape(n, -1).all(axis=1)
        no_sequence = (out_sequences == 0).reshape(n, -1).all(axis=1)
        partly = ~no_image & ~(out_images == 1).reshape(n, -1).all(axis=1)
        if partly.any():
            problems.append("blank a whole example's image or sequence, not single values.")
        if (no_image & no_sequence).any():
            problems.append("an example lost both modalities: it must keep at least one.")
        share = (no_image | no_sequence).mean()
        if not 0.26 <= share <= 0.34:
            problems.append(f"with rate 0.3, about 30% of the examples should lose a modality; "
                            f"{share:.0%} did.")
        elif not 0.35 <= no_image.sum() / max(1, (no_image | no_sequence).sum()) <= 0.65:
            problems.append("about half of the dropped examples should lose the image and "
                            "half the sequence.")
        again, _ = attempt_without(originals, fn, images, sequences, 0.3,
                                   np.random.default_rng(0))
        other, _ = attempt_without(originals, fn, images, sequences, 0.3,
                                   np.random.default_rng(1))
        if again is not None and not np.array_equal(np.asarray(again[0]), out_images):
            problems.append("the same seed gave different results: use the `rng` given.")
        if other is not None and np.array_equal(np.asarray(other[0]), out_images):
            problems.append("two seeds gave the same result: choose examples at random with "
                            "`rng`.")
        none, _ = attempt_without(originals, fn, images, sequences, 0.0,
                                  np.random.default_rng(0))
        if none is not None and not (np.asarray(none[0]) == 1).all():
            problems.append("with rate 0 nothing should be dropped.")
        return self._report("modality_dropout", problems)

    def first_level_without_gain(self, fn: Callable) -> Result:
        """``fn(levels, fused, alone)``: first level whose paired t-interval of the gain is
        not above zero, or None. The course's own intervals (``claims.paired_difference``,
        ``claims.t_interval``, which the chapter's sweep shows) are switched off."""
        from mnist_course.course import claims

        originals = (claims.paired_difference, claims.t_interval)
        levels = [0.0, 0.1, 0.2, 0.3]
        rng = np.random.default_rng(4)
        alone = 90 + rng.normal(0, 0.2, (5, 4))
        # a clear gain at 0 and 0.1, a noisy small one at 0.2 (interval straddles 0), none at 0.3
        gain = np.array([[3.0, 2.0, 0.2, -1.0], [3.2, 2.1, -0.4, -1.2], [2.9, 1.8, 0.9, -0.8],
                         [3.1, 2.2, -0.3, -1.1], [3.0, 1.9, 0.5, -0.9]])
        cases = [(alone + gain, 0.2, "a gain whose interval straddles zero is not a gain"),
                 (alone + np.abs(gain) + 0.5, None, "fusion helps at every level: return None"),
                 (alone - 1 + rng.normal(0, 0.1, alone.shape), 0.0,
                  "no gain at the first level: return the first level")]
        problems = []
        for fused, expected, what in cases:
            assert _first_without_gain(levels, fused, alone) == expected
            got, problem = attempt_without(originals, fn, levels, fused, alone)
            if problem:
                return self._report("first_level_without_gain", [problem])
            if got != expected:
                hint = ""
                if expected == 0.2 and got == 0.3:
                    hint = (" A positive mean is not enough: the whole 95% t-interval of the "
                            "paired differences must be above zero.")
                problems.append(f"{what}: expected {expected}, got {got}.{hint}")
        return self._report("first_level_without_gain", problems)


#: For the chapter: explains, never raises.
check = Checks(strict=False)
#: For the solutions notebook: raises AssertionError on any problem.
strict_check = Checks(strict=True)
