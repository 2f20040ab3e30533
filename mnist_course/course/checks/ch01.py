"""Checkers of chapter 01 (architectures): separable parameters, SE block, a budget model."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mnist_course.course.checks.core import Checker, Result, attempt, attempt_without


class Checks(Checker):
    """The exercises of this chapter; ``strict=True`` raises on failure (solutions)."""

    #: the training the budget_model exercise allows: epochs on this many training images
    BUDGET_EPOCHS, BUDGET_IMAGES = 3, 20_000


    def separable_params(self, fn: Callable[[int, int, int], int]) -> Result:
        """``fn(k, c_in, c_out)``: parameters of a depthwise k x k + pointwise 1x1 block with
        biases, as Keras's ``DepthwiseConv2D`` followed by ``Conv2D(c_out, 1)`` counts them."""
        import keras

        problems = []
        for k, c_in, c_out in ((3, 32, 64), (5, 6, 16), (3, 1, 8), (7, 128, 256)):
            inputs = keras.Input((16, 16, c_in))
            x = keras.layers.DepthwiseConv2D(k, padding="same")(inputs)
            expected = keras.Model(inputs, keras.layers.Conv2D(c_out, 1)(x)).count_params()
            got, problem = attempt(fn, k, c_in, c_out)
            if problem:
                return self._report("separable_params", [problem])
            if got != expected:
                hint = ""
                if got == k * k * c_in + c_in * c_out:
                    hint = " You forgot the biases: one per depthwise channel, one per output."
                elif got == k * k * c_in * c_out + c_out:
                    hint = " That is a standard convolution's count."
                problems.append(f"k={k}, c_in={c_in}, c_out={c_out}: expected {expected}, "
                                f"got {got}.{hint}")
        return self._report("separable_params", problems)

    def se_block(self, fn: Callable) -> Result:
        """``fn(x, ratio)`` applies squeeze-and-excitation to a Keras tensor ``x``."""
        import keras

        from mnist_course import models

        inputs = keras.Input((6, 6, 64))
        out, problem = attempt_without((models.se_block,), fn, inputs, 16)
        if problem:
            return self._report("se_block", [problem])
        try:
            model = keras.Model(inputs, out)
        except Exception as err:  # not a Keras tensor built from `inputs`
            return self._report("se_block", [f"the result is not a Keras tensor of x ({err})."])
        problems = []
        if tuple(model.output.shape[1:]) != (6, 6, 64):
            problems.append(f"output shape should equal the input's (6, 6, 64), got "
                            f"{tuple(model.output.shape[1:])}: SE rescales, it does not reshape.")
        expected = 64 * 4 + 4 + 4 * 64 + 64
        if model.count_params() != expected:
            problems.append(f"{model.count_params()} parameters; a bottleneck of 64 // 16 = 4 "
                            f"units with biases has {expected} (Dense 64->4, Dense 4->64).")
        if not problems:
            x = np.random.default_rng(0).uniform(0.5, 1.5, (2, 6, 6, 64)).astype(np.float32)
            gate = np.asarray(model(x)) / x
            if not np.allclose(gate, gate[:, :1, :1, :], atol=1e-5):
                problems.append("each channel must be multiplied by one weight for all positions.")
            elif not (np.all(gate > 0) and np.all(gate < 1)):
                problems.append("the channel weights should lie in (0, 1): end with a sigmoid.")
        return self._report("se_block", problems)

    def budget_model(self, fn: Callable, max_params: int = 20_000, target: float = 0.97) -> Result:
        """``fn()`` builds a model with at most ``max_params`` parameters that reaches ``target``
        validation accuracy after ``BUDGET_EPOCHS`` epochs on ``BUDGET_IMAGES`` training images
        with the course's recipe (``training.fit``)."""
        from mnist_course import data, models, training
        from mnist_course.course.profile import seed_everything

        seed_everything(0)
        model, problem = attempt_without((models.compact_cnn,), fn)
        if problem:
            return self._report("budget_model", [problem])
        problems = []
        if model.count_params() > max_params:
            problems.append(f"{model.count_params():,} parameters, over the budget of "
                            f"{max_params:,}.")
        shape, problem = attempt(model.compute_output_shape, (1, 28, 28, 1))
        if problem or tuple(shape) != (1, 10):
            problems.append(f"for images (N, 28, 28, 1) the output should be 10 logits, "
                            f"(N, 10); got {problem or shape}.")
        if problems:
            return self._report("budget_model", problems)
        split = data.load_split()
        n = self.BUDGET_IMAGES
        training.fit(model, data.to_model_input(split.x_train[:n]), split.y_train[:n],
                     epochs=self.BUDGET_EPOCHS, progress=False)
        logits = model.predict(data.to_model_input(split.x_val), verbose=0)
        acc = float(np.mean(logits.argmax(-1) == split.y_val))
        if acc < target:
            problems.append(f"validation accuracy {acc:.4f} after {self.BUDGET_EPOCHS} epochs, "
                            f"below {target}.")
        else:
            print(f"  validation accuracy {acc:.4f} with {model.count_params():,} parameters")
        return self._report("budget_model", problems)


#: For the chapter: explains, never raises.
check = Checks(strict=False)
#: For the solutions notebook: raises AssertionError on any problem.
strict_check = Checks(strict=True)
