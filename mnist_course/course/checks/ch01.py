"""Checkers of chapter 01 (architectures): separable parameters, SE block, channel
attention (a variant of SE the chapter does not show), a budget model."""

from __future__ import annotations

import contextlib
import types
from collections.abc import Callable, Iterator

import numpy as np

from mnist_course.course.checks.core import Checker, Result, attempt, attempt_without

#: names whose use means Keras did the counting: its count, its layers, its models
KERAS_COUNTING = ("count_params", "keras", "tensorflow", "tf", "layers", "Conv2D",
                  "DepthwiseConv2D", "SeparableConv2D", "Input", "Model", "weights",
                  "trainable_weights")


def _names(fn: Callable, seen: set[int] | None = None, depth: int = 0) -> set[str]:
    """Every global or attribute name ``fn`` uses, with its own helper functions and
    closures (the learner's code, not the libraries it calls)."""
    seen = set() if seen is None else seen
    code = getattr(fn, "__code__", None)
    if code is None or id(fn) in seen or depth > 4:
        return set()
    seen.add(id(fn))
    names, stack = set(), [code]
    while stack:
        c = stack.pop()
        names.update(c.co_names)
        stack.extend(k for k in c.co_consts if isinstance(k, types.CodeType))
    scope = getattr(fn, "__globals__", {})
    helpers = [scope.get(n) for n in names]
    helpers += [c.cell_contents for c in getattr(fn, "__closure__", None) or ()
                if c.cell_contents is not None]
    for helper in helpers:
        if isinstance(helper, types.FunctionType) and helper.__globals__ is scope:
            names |= _names(helper, seen, depth + 1)
    return names


@contextlib.contextmanager
def _no_keras_count() -> Iterator[None]:
    """Switch off ``count_params`` on every Keras layer and model while the learner's code
    runs (a call the name check could not see then fails and says why)."""
    import keras

    original = keras.layers.Layer.count_params

    def stub(self):
        raise RuntimeError("the checker switched off Keras's count_params during this "
                           "exercise: derive the count from the shapes")

    keras.layers.Layer.count_params = stub
    try:
        yield
    finally:
        keras.layers.Layer.count_params = original


class Checks(Checker):
    """The exercises of this chapter; ``strict=True`` raises on failure (solutions)."""

    #: the training the budget_model exercise allows: epochs on this many training images
    BUDGET_EPOCHS, BUDGET_IMAGES = 3, 20_000


    def separable_params(self, fn: Callable[[int, int, int], int]) -> Result:
        """``fn(k, c_in, c_out)``: parameters of a depthwise k x k + pointwise 1x1 block with
        biases, as Keras's ``DepthwiseConv2D`` followed by ``Conv2D(c_out, 1)`` counts them."""
        import keras

        used = sorted(set(KERAS_COUNTING) & _names(fn))
        if used:
            return self._report("separable_params", [
                f"this uses {', '.join(f'`{n}`' for n in used)}: Keras would be doing the "
                "counting (the checker would only be testing Keras). Derive the count from "
                "the shapes: weights per filter, filters per layer, biases."])
        problems = []
        for k, c_in, c_out in ((3, 32, 64), (5, 6, 16), (3, 1, 8), (7, 128, 256)):
            inputs = keras.Input((16, 16, c_in))
            x = keras.layers.DepthwiseConv2D(k, padding="same")(inputs)
            expected = keras.Model(inputs, keras.layers.Conv2D(c_out, 1)(x)).count_params()
            with _no_keras_count():
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

    def channel_attention(self, fn: Callable) -> Result:
        """``fn(x, ratio)``: channel attention with two squeezes (CBAM's channel half): the
        global average and the global maximum of each channel go through one shared
        bottleneck ``Dense(max(4, C // ratio), relu) -> Dense(C)``; the two results are
        added, a sigmoid makes the gate, and the gate scales ``x``. Tried with C = 64 and
        ratio 8, with ``models.se_block`` refused."""
        import keras

        from mnist_course import models

        channels, ratio = 64, 8
        units = max(4, channels // ratio)
        inputs = keras.Input((5, 5, channels))
        out, problem = attempt_without((models.se_block,), fn, inputs, ratio)
        if problem:
            return self._report("channel_attention", [problem])
        try:
            model = keras.Model(inputs, out)
        except Exception as err:  # not a Keras tensor built from `inputs`
            return self._report("channel_attention",
                                [f"the result is not a Keras tensor of x ({err})."])
        problems = []
        if tuple(model.output.shape[1:]) != (5, 5, channels):
            problems.append(f"output shape should equal the input's (5, 5, {channels}), got "
                            f"{tuple(model.output.shape[1:])}: attention rescales channels.")
            return self._report("channel_attention", problems)
        one_mlp = channels * units + units + units * channels + channels
        dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
        if model.count_params() == 2 * one_mlp:
            problems.append(f"{2 * one_mlp} parameters, two bottlenecks: the average and the "
                            f"maximum must go through the same Dense layers ({one_mlp}).")
        elif model.count_params() != one_mlp or len(dense) != 2:
            problems.append(f"{model.count_params()} parameters in {len(dense)} Dense "
                            f"layer(s); one shared bottleneck of max(4, {channels} // {ratio})"
                            f" = {units} units, with biases, is two Dense layers holding "
                            f"{one_mlp}.")
        if problems:
            return self._report("channel_attention", problems)
        if dense[0].units != units:
            dense = dense[::-1]
        x = np.random.default_rng(4).uniform(0.1, 1.0, (3, 5, 5, channels)).astype(np.float32)
        x[0, 2, 2, :] = 3.0  # a peak: the maximum differs from the average

        def mlp(v):
            hidden = np.maximum(v @ dense[0].kernel.numpy() + dense[0].bias.numpy(), 0)
            return hidden @ dense[1].kernel.numpy() + dense[1].bias.numpy()

        logits = mlp(x.mean(axis=(1, 2))) + mlp(x.max(axis=(1, 2)))
        want = 1 / (1 + np.exp(-logits))
        gate = np.asarray(model(x)) / x
        if not np.allclose(gate, gate[:, :1, :1, :], atol=1e-4):
            problems.append("each channel must be multiplied by one weight for all positions.")
        elif np.allclose(gate[:, 0, 0], 1 / (1 + np.exp(-mlp(x.mean(axis=(1, 2))))),
                         atol=1e-4):
            problems.append("the gate ignores the maximum: that is SE's gate; add the "
                            "bottleneck's output for the global maximum before the sigmoid.")
        elif not (np.all(gate > 0) and np.all(gate < 1)):
            problems.append("the channel weights should lie in (0, 1): one sigmoid, after the "
                            "two bottleneck outputs are added.")
        elif not np.allclose(gate[:, 0, 0], want, atol=1e-4):
            problems.append("the gate is not sigmoid(mlp(average) + mlp(maximum)): the "
                            "hidden layer has the relu, the second Dense layer no activation, "
                            "and the sigmoid comes after the sum.")
        return self._report("channel_attention", problems)

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
