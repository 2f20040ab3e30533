"""Checkers of chapter 07b (continual learning): forgetting from an accuracy matrix, the EWC
penalty, a class-balanced choice for a replay buffer."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mnist_course.course.checks.core import Checker, Result, attempt_without

#: R[i, j]: accuracy on task j after learning task i. Best-before-the-end minus final, for
#: tasks 1-3: task 1 peaked at 0.9 (row 2), task 2 at 0.8, task 3 at 0.7 -> (0.6 + 0.4 + 0.2) / 3.
_R = np.array([[0.8, 0.0, 0.0, 0.0],
               [0.9, 0.8, 0.0, 0.0],
               [0.5, 0.6, 0.7, 0.0],
               [0.3, 0.4, 0.5, 0.9]])
_R_FORGETTING = 0.4


def _number(value) -> float:
    return float(np.asarray(value))


class Checks(Checker):
    """The exercises of this chapter; ``strict=True`` raises on failure (solutions)."""

    def forgetting(self, fn: Callable) -> Result:
        """``fn(R)``: mean over all tasks but the last of best-before-the-end minus final."""
        from mnist_course import continual

        originals = (continual.forgetting, continual.average_accuracy)
        got, problem = attempt_without(originals, fn, _R.copy())
        if problem:
            return self._report("forgetting", [problem])
        problems = []
        try:
            got = _number(got)
        except (TypeError, ValueError):
            return self._report("forgetting", [f"return one number, got {got!r}."])
        if not np.isclose(got, _R_FORGETTING):
            hint = ""
            if np.isclose(got, (_R[0, 0] + _R[1, 1] + _R[2, 2]) / 3 - _R[-1, :-1].mean()):
                hint = (" You compared with the accuracy right after learning each task; take "
                        "the best accuracy it reached at any point before the end (task 1 "
                        "improved after task 2).")
            elif np.isclose(got, (_R[:, :].max(axis=0) - _R[-1]).mean()):
                hint = " Leave the last task out: it cannot have been forgotten yet."
            elif np.isclose(got, -_R_FORGETTING):
                hint = " The sign: forgetting is best minus final, positive when accuracy fell."
            problems.append(f"on a hand-made 4-task matrix expected {_R_FORGETTING}, got "
                            f"{got:.4g}.{hint}")
        single, problem = attempt_without(originals, fn, np.array([[0.7]]))
        if problem or not np.isclose(_number(single), 0.0):
            problems.append(problem or "a single task has nothing to forget: return 0.0.")
        return self._report("forgetting", problems)

    def ewc_penalty(self, fn: Callable) -> Result:
        """``fn(weights, anchors, fisher, lam)``: lam/2 * sum F (w - a)^2 over all tensors."""
        from mnist_course import continual

        rng = np.random.default_rng(5)
        shapes = [(4, 3), (3,), (3, 2)]
        anchors = [rng.normal(size=s) for s in shapes]
        fisher = [rng.random(size=s) for s in shapes]
        step = [rng.normal(size=s) for s in shapes]
        originals = (continual.ewc_penalty,)

        def call(scale, lam=3.0):
            weights = [a + scale * d for a, d in zip(anchors, step)]
            got, problem = attempt_without(originals, fn, weights, anchors, fisher, lam)
            return (None if problem else _number(got)), problem

        expected = 3.0 / 2 * sum((f * d**2).sum() for f, d in zip(fisher, step))
        got, problem = call(1.0)
        if problem:
            return self._report("ewc_penalty", [problem])
        problems = []
        if not np.isclose(got, expected):
            hint = ""
            if np.isclose(got, 2 * expected):
                hint = " Multiply by lam / 2, not lam."
            elif np.isclose(got, expected / 3.0 * 2):
                hint = " Multiply by lam / 2: the strength is missing."
            elif np.isclose(got, 3.0 / 2 * sum((f * np.abs(d)).sum()
                                               for f, d in zip(fisher, step))):
                hint = " Square the difference from the anchors."
            elif np.isclose(got, 3.0 / 2 * sum((f * d**2).sum()
                                               for f, d in zip(fisher[:1], step[:1]))):
                hint = " Sum over every tensor, not only the first."
            problems.append(f"expected {expected:.6g} on three tensors with lam = 3, got "
                            f"{got:.6g}.{hint}")
        at_anchor, _ = call(0.0)
        if at_anchor is not None and not np.isclose(at_anchor, 0.0):
            problems.append(f"at the anchors the penalty must be 0, got {at_anchor:.4g}.")
        doubled, _ = call(2.0)
        if not problems and doubled is not None and not np.isclose(doubled, 4 * got):
            problems.append("twice as far from the anchors must cost four times as much "
                            "(a quadratic penalty).")
        return self._report("ewc_penalty", problems)

    def balanced_keep(self, fn: Callable) -> Result:
        """``fn(labels, per_class, rng)``: indices of at most per_class random examples of
        each label, drawn with rng."""
        from mnist_course import continual

        originals = (continual.ReplayBuffer,)
        labels = np.array([0] * 30 + [1] * 4 + [2] * 12 + [7] * 9)
        np.random.default_rng(0).shuffle(labels)
        got, problem = attempt_without(originals, fn, labels, 8, np.random.default_rng(0))
        if problem:
            return self._report("balanced_keep", [problem])
        got = np.asarray(got)
        problems = []
        if got.dtype.kind not in "iu" or got.ndim != 1:
            return self._report("balanced_keep", [
                f"return a 1-D array of integer indices into `labels`, got {got.dtype} with "
                f"shape {got.shape}."])
        if len(np.unique(got)) < len(got):
            problems.append("an index is kept twice: draw without replacement.")
        if len(got) and (got.min() < 0 or got.max() >= len(labels)):
            problems.append("indices must point into `labels`.")
        else:
            counts = {int(c): int((labels[got] == c).sum()) for c in np.unique(labels)}
            expected = {0: 8, 1: 4, 2: 8, 7: 8}
            if counts != expected:
                problems.append(f"with 8 per class, labels 0/1/2/7 (30/4/12/9 examples) should "
                                f"keep {expected}; kept {counts}.")
        again, _ = attempt_without(originals, fn, labels, 8, np.random.default_rng(0))
        other, _ = attempt_without(originals, fn, labels, 8, np.random.default_rng(1))
        if again is not None and not np.array_equal(np.sort(np.asarray(again)), np.sort(got)):
            problems.append("the same seed kept different examples: draw with the `rng` given.")
        if other is not None and np.array_equal(np.sort(np.asarray(other)), np.sort(got)):
            problems.append("two seeds kept the same examples: choose at random with `rng`, "
                            "not the first ones of each label.")
        return self._report("balanced_keep", problems)


#: For the chapter: explains, never raises.
check = Checks(strict=False)
#: For the solutions notebook: raises AssertionError on any problem.
strict_check = Checks(strict=True)
