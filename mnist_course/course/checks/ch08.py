"""Checkers of chapter 08 (the final model): the warm-up + cosine schedule, label-smoothed
targets, McNemar's exact test."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np

from mnist_course.course.checks.core import Checker, Result, attempt


@contextlib.contextmanager
def _without_keras_schedules() -> Iterator[None]:
    """Switch off Keras's learning-rate schedules while the learner's code runs: the
    exercise is the formula, not a call to the schedule the chapter used."""
    import keras
    from keras.src.optimizers.schedules import learning_rate_schedule as impl

    def stub(*args, **kwargs):
        raise RuntimeError("the checker switched off Keras's schedules during this exercise:"
                           " write the formula yourself")

    modules = (keras.optimizers.schedules, impl)
    saved = [(m, name, getattr(m, name)) for m in modules
             for name in ("CosineDecay", "CosineDecayRestarts") if hasattr(m, name)]
    for module, name, _ in saved:
        setattr(module, name, stub)
    try:
        yield
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def _keras_rate(step: int, peak: float, warmup: int, total: int) -> float:
    import keras

    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, decay_steps=total - warmup, warmup_target=peak, warmup_steps=warmup)
    return float(schedule(step))


class Checks(Checker):
    """The exercises of this chapter; ``strict=True`` raises on failure (solutions)."""

    def warmup_cosine(self, fn: Callable) -> Result:
        """``fn(step, peak, warmup_steps, total_steps)`` -> the learning rate."""
        problems = []
        for peak, warmup, total in ((2e-3, 100, 1000), (0.1, 7, 50)):
            steps = sorted({0, 1, warmup // 2, warmup - 1, warmup, warmup + 1,
                            (warmup + total) // 2, total - 1, total, total + 10})
            expected = [_keras_rate(s, peak, warmup, total) for s in steps]
            with _without_keras_schedules():
                got = []
                for s in steps:
                    value, problem = attempt(fn, s, peak, warmup, total)
                    if problem:
                        return self._report("warmup_cosine", [problem])
                    got.append(value)
            try:
                got = np.asarray(got, dtype=float)
            except (TypeError, ValueError):
                return self._report("warmup_cosine", [
                    f"return one number per step, got {got[0]!r} at step {steps[0]}."])
            bad = [(s, g, e) for s, g, e in zip(steps, got, expected)
                   if not np.isclose(g, e, rtol=1e-4, atol=peak * 1e-6)]
            if bad:
                s, g, e = bad[0]
                hint = ""
                if s <= warmup:
                    hint = " During warm-up the rate is peak * step / warmup_steps."
                elif s >= total:
                    hint = " After total_steps the rate stays at 0."
                elif np.isclose(g, peak * 0.5 * (1 + np.cos(np.pi * s / total)), rtol=1e-4):
                    hint = (" The cosine starts where the warm-up ends: measure its "
                            "progress from warmup_steps, over total_steps - warmup_steps.")
                problems.append(f"with peak {peak}, warmup_steps {warmup}, total_steps "
                                f"{total}: at step {s} expected {e:.6g}, got {g:.6g}."
                                f"{hint}")
                break
        return self._report("warmup_cosine", problems)

    def smoothed_targets(self, fn: Callable) -> Result:
        """``fn(labels, classes, smoothing)`` -> targets, one row per label."""
        import keras

        labels = np.array([3, 0, 9, 3, 7])
        problems = []
        for classes, smoothing in ((10, 0.1), (4, 0.3)):
            these = labels % classes
            got, problem = attempt(fn, these.copy(), classes, smoothing)
            if problem:
                return self._report("smoothed_targets", [problem])
            try:
                got = np.asarray(got, dtype=np.float64)
            except (TypeError, ValueError):
                return self._report("smoothed_targets", [
                    f"return an array of targets, got {type(got).__name__}."])
            if got.shape != (len(these), classes):
                return self._report("smoothed_targets", [
                    f"{len(these)} labels and {classes} classes should give shape "
                    f"({len(these)}, {classes}), got {got.shape}."])
            if not np.allclose(got.sum(axis=1), 1):
                problems.append("each row of targets should sum to 1 (a distribution over "
                                f"the classes); row sums {np.round(got.sum(axis=1), 4)}.")
                break
            # the loss Keras computes with smoothing must equal plain cross-entropy on them
            logits = np.random.default_rng(classes).normal(size=(len(these), classes))
            one_hot = np.eye(classes)[these]
            keras_loss = keras.losses.CategoricalCrossentropy(
                from_logits=True, label_smoothing=smoothing,
                reduction=None)(one_hot, logits)
            plain = keras.losses.CategoricalCrossentropy(from_logits=True,
                                                         reduction=None)(got, logits)
            if not np.allclose(np.asarray(keras_loss), np.asarray(plain), atol=1e-5):
                true_share = float(got[0, these[0]])
                hint = ""
                if np.isclose(true_share, 1 - smoothing):
                    hint = (" Keras spreads the smoothing over every class, the true one "
                            "included: the true digit keeps 1 - s + s / classes.")
                problems.append(f"with {classes} classes and smoothing {smoothing}, the "
                                f"true class's target is {true_share:.4f}; Keras's loss "
                                f"does not match cross-entropy on your targets.{hint}")
                break
        return self._report("smoothed_targets", problems)

    def mcnemar_p(self, fn: Callable) -> Result:
        """``fn(right_a, right_b)`` -> McNemar's exact two-sided p-value."""
        from scipy import stats

        def case(both: int, only_a: int, only_b: int, neither: int):
            a = np.array([True] * both + [True] * only_a + [False] * only_b
                         + [False] * neither)
            b = np.array([True] * both + [False] * only_a + [True] * only_b
                         + [False] * neither)
            order = np.random.default_rng(both + only_a).permutation(len(a))
            return a[order], b[order]

        problems = []
        for counts in ((900, 10, 0, 90), (500, 5, 5, 20), (9000, 7, 2, 50),
                       (100, 0, 0, 3), (50, 3, 12, 1)):
            both, only_a, only_b, _ = counts
            a, b = case(*counts)
            discordant = only_a + only_b
            expected = 1.0 if discordant == 0 else float(
                stats.binomtest(only_a, discordant, 0.5).pvalue)
            got, problem = attempt(fn, a.copy(), b.copy())
            if problem:
                return self._report("mcnemar_p", [problem])
            if not isinstance(got, (float, int, np.floating)) or not np.isclose(
                    got, expected, rtol=1e-6, atol=1e-12):
                hint = ""
                if isinstance(got, (float, np.floating)) and np.isclose(got, expected / 2):
                    hint = " That is one-sided: the question is whether they differ at all."
                elif discordant == 0:
                    hint = " With no digit on which they disagree, nothing says they differ."
                problems.append(f"model A alone right on {only_a}, model B alone on "
                                f"{only_b}, both on {both}: expected p = {expected:.6g}, "
                                f"got {got!r}.{hint} Only the digits on which they "
                                "disagree count.")
                break
        return self._report("mcnemar_p", problems)


#: For the chapter: explains, never raises.
check = Checks(strict=False)
#: For the solutions notebook: raises AssertionError on any problem.
strict_check = Checks(strict=True)
