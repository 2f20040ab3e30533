"""Exercise checkers.

Chapters use ``check``: it explains what is missing and never raises, so a learner can run
the notebook top to bottom with exercises still open. Solutions notebooks use
``strict_check``: the same tests, but a failure raises ``AssertionError``.

Each checker method takes the learner's function, tries it on small inputs whose right
answer is known, and prints one line per problem found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Result:
    """What a checker found: the exercise's name and the problems, if any."""

    exercise: str
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    def message(self) -> str:
        if self.passed:
            return f"✓ {self.exercise}: all checks passed."
        lines = [f"✗ {self.exercise}: not there yet."] + [f"  - {p}" for p in self.problems]
        return "\n".join(lines)

    def _ipython_display_(self) -> None:
        """Already printed by the checker: show nothing more in a notebook."""


def _attempt(fn: Callable, *args: Any) -> tuple[Any, str | None]:
    """Call the learner's function; turn an exception into a problem to report."""
    try:
        return fn(*args), None
    except NotImplementedError:
        return None, "not implemented yet: replace the `raise NotImplementedError` with your code."
    except Exception as err:  # the learner's code may fail in any way; report, don't crash
        return None, f"calling it raised {type(err).__name__}: {err}"


class Checker:
    """The exercise checks; ``strict=True`` raises on failure (for solutions notebooks)."""

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict

    def _report(self, exercise: str, problems: list[str]) -> Result:
        result = Result(exercise, problems)
        print(result.message())
        if self.strict and not result.passed:
            raise AssertionError(result.message())
        return result

    # -- chapter 00 -----------------------------------------------------------------

    def count_classes(self, fn: Callable[[np.ndarray], np.ndarray]) -> Result:
        """``fn(labels)`` returns how many times each digit 0-9 occurs, shape (10,)."""
        labels = np.random.default_rng(0).integers(0, 10, 500).astype(np.uint8)
        labels[labels == 9] = 3  # digit 9 absent: its count must still be reported, as 0
        counts, problem = _attempt(fn, labels)
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
        out, problem = _attempt(fn, images.copy())
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
        means, problem = _attempt(fn, images, labels)
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


#: For chapters: explains, never raises.
check = Checker(strict=False)
#: For solutions notebooks: raises AssertionError on any problem.
strict_check = Checker(strict=True)
