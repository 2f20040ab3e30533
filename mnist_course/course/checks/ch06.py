"""Checkers of chapter 06 (troubleshooting): the pruning schedule, repairing a broken training
set-up, balanced class weights."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mnist_course.course.checks.core import Checker, Result, attempt, attempt_without


class Checks(Checker):
    """The exercises of this chapter; ``strict=True`` raises on failure (solutions)."""

    def sparsity_schedule(self, fn: Callable) -> Result:
        """``fn(step, begin_step, end_step, initial, final)``: tfmot's polynomial decay."""
        from mnist_course import pruning

        originals = (pruning.polynomial_sparsity,)
        cases = [(0, 100, 300, 0.0, 0.8), (100, 100, 300, 0.0, 0.8), (150, 100, 300, 0.0, 0.8),
                 (200, 100, 300, 0.0, 0.8), (300, 100, 300, 0.0, 0.8),
                 (500, 100, 300, 0.0, 0.8), (50, 0, 200, 0.2, 0.9)]
        problems = []
        for step, begin, end, initial, final in cases:
            p = min(1.0, max(0.0, (step - begin) / (end - begin)))
            expected = final + (initial - final) * (1 - p) ** 3
            got, problem = attempt_without(originals, fn, step, begin, end, initial, final)
            if problem:
                return self._report("sparsity_schedule", [problem])
            try:
                got = float(got)
            except (TypeError, ValueError):
                return self._report("sparsity_schedule", [f"return a number, got {got!r}."])
            if not np.isclose(got, expected):
                linear = final + (initial - final) * (1 - p)
                hint = ""
                if np.isclose(got, linear):
                    hint = " That is a straight line: the decay is cubic, (1 - p) ** 3."
                elif step < begin or step > end:
                    hint = " Outside begin..end, clamp p to [0, 1]."
                problems.append(f"at step {step} (begin {begin}, end {end}, {initial} -> "
                                f"{final}) expected {expected:.4f}, got {got:.4f}.{hint}")
                break
        return self._report("sparsity_schedule", problems)

    def repair(self, fn: Callable) -> Result:
        """``fn(images, model) -> (images, model)``: scaled floats and a matching loss."""
        import keras
        from keras import layers

        from mnist_course import data, diagnostics
        from mnist_course.course.profile import seed_everything

        seed_everything(0)
        split = data.load_split()
        raw = split.x_train[:1500, :, :, None]  # uint8, 0-255: the broken input
        keras.utils.set_random_seed(0)
        broken = keras.Sequential([keras.Input((28, 28, 1)), layers.Flatten(),
                                   layers.Dense(64, activation="relu"),
                                   layers.Dense(10)])  # logits
        broken.compile(optimizer=keras.optimizers.Adam(1e-3),
                       loss=keras.losses.SparseCategoricalCrossentropy(from_logits=False),
                       metrics=["accuracy"])
        n_layers = len(broken.layers)
        got, problem = attempt(fn, raw.copy(), broken)
        if problem:
            return self._report("repair", [problem])
        try:
            images, model = got
        except (TypeError, ValueError):
            return self._report("repair", [f"return a pair (images, model), got "
                                           f"{type(got).__name__}."])
        images = np.asarray(images)
        problems = []
        if images.dtype != np.float32:
            problems.append(f"the images should be float32, got {images.dtype}.")
        for finding in (diagnostics.input_range(images), ):
            if not finding.ok:
                problems.append(finding.message)
        if not isinstance(model, keras.Model) or getattr(model, "loss", None) is None:
            return self._report("repair", problems + ["return the model compiled (with "
                                                      "model.compile)."])
        if len(model.layers) != n_layers:
            problems.append("keep the model's layers; only its compilation was wrong.")
        finding = diagnostics.output_and_loss(model)
        if not finding.ok:
            problems.append(finding.message)
        if not problems:
            model.fit(images[:1000], split.y_train[:1000], batch_size=32, epochs=3, verbose=0)
            held = (model.predict(images[1000:], verbose=0).argmax(1)
                    == split.y_train[1000:1500]).mean()
            if held < 0.6:  # well below what a repaired set-up reaches, well above chance
                problems.append(f"after 3 epochs on 1,000 images the repaired set-up reaches "
                                f"only {held:.0%} on 500 others: something is still off.")
        return self._report("repair", problems)

    def class_weights(self, fn: Callable) -> Result:
        """``fn(labels) -> {class: weight}``: n / (k * count) for every class present."""
        labels = np.array([0] * 500 + [1] * 50 + [4] * 10 + [7] * 440)
        np.random.default_rng(0).shuffle(labels)
        got, problem = attempt(fn, labels.copy())
        if problem:
            return self._report("class_weights", [problem])
        if not isinstance(got, dict):
            return self._report("class_weights", [
                f"return a dict {{class: weight}} (what fit's class_weight takes), got "
                f"{type(got).__name__}."])
        got = {int(k): float(v) for k, v in got.items()}
        classes, counts = np.unique(labels, return_counts=True)
        expected = {int(c): len(labels) / (len(classes) * n) for c, n in zip(classes, counts)}
        problems = []
        if set(got) != set(expected):
            problems.append(f"weights are needed for exactly the classes present, "
                            f"{sorted(expected)}; got {sorted(got)}.")
        elif not all(np.isclose(got[c], expected[c]) for c in expected):
            hint = ""
            if all(np.isclose(got[c], 1 / n) for c, n in zip(classes, counts)):
                hint = " Right shape (1 / count), wrong scale: multiply by n / k."
            elif got[0] > got[4]:
                hint = " The rare classes must weigh more, not less."
            problems.append(f"expected {({c: round(w, 3) for c, w in expected.items()})}, got "
                            f"{({c: round(w, 3) for c, w in got.items()})}.{hint}")
        return self._report("class_weights", problems)


#: For the chapter: explains, never raises.
check = Checks(strict=False)
#: For the solutions notebook: raises AssertionError on any problem.
strict_check = Checks(strict=True)
