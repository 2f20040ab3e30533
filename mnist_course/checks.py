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

from mnist_course.checks_serving import ServingChecks


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


def _probe_lenet(n_images: int, epochs: int):
    """A LeNet-5 trained briefly with seed 0 (the same for every learner), and the split."""
    from mnist_course import data, models, training
    from mnist_course.runtime import seed_everything

    seed_everything(0)
    split = data.load_split()
    model = models.lenet5()
    training.fit(model, data.to_model_input(split.x_train[:n_images]),
                 split.y_train[:n_images], epochs=epochs, progress=False)
    return model, split


class Checker(ServingChecks):
    """The exercise checks; ``strict=True`` raises on failure (for solutions notebooks)."""

    #: the training the budget_model exercise allows: epochs on this many training images
    BUDGET_EPOCHS, BUDGET_IMAGES = 3, 20_000

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

    # -- chapter 01 -----------------------------------------------------------------

    def separable_params(self, fn: Callable[[int, int, int], int]) -> Result:
        """``fn(k, c_in, c_out)``: parameters of a depthwise k x k + pointwise 1x1 block with
        biases, as Keras's ``DepthwiseConv2D`` followed by ``Conv2D(c_out, 1)`` counts them."""
        import keras

        problems = []
        for k, c_in, c_out in ((3, 32, 64), (5, 6, 16), (3, 1, 8), (7, 128, 256)):
            inputs = keras.Input((16, 16, c_in))
            x = keras.layers.DepthwiseConv2D(k, padding="same")(inputs)
            expected = keras.Model(inputs, keras.layers.Conv2D(c_out, 1)(x)).count_params()
            got, problem = _attempt(fn, k, c_in, c_out)
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

        inputs = keras.Input((6, 6, 64))
        out, problem = _attempt(fn, inputs, 16)
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
        from mnist_course import data, training
        from mnist_course.runtime import seed_everything

        seed_everything(0)
        model, problem = _attempt(fn)
        if problem:
            return self._report("budget_model", [problem])
        problems = []
        if model.count_params() > max_params:
            problems.append(f"{model.count_params():,} parameters, over the budget of "
                            f"{max_params:,}.")
        shape, problem = _attempt(model.compute_output_shape, (1, 28, 28, 1))
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

    # -- chapter 04a ----------------------------------------------------------------

    def quantize_input(self, fn: Callable[[np.ndarray, float, int], np.ndarray]) -> Result:
        """``fn(images, scale, zero_point)``: float to uint8, rounded and clipped."""
        from mnist_course.export import quantize

        x = np.array([0.0, 0.5, 1.0, 0.001, 0.999, 1.2, -0.1], dtype=np.float32)
        problems = []
        for scale, zero_point in ((1 / 255, 0), (0.0078125, 128), (0.02, 3)):
            got, problem = _attempt(fn, x.copy(), scale, zero_point)
            if problem:
                return self._report("quantize_input", [problem])
            got = np.asarray(got)
            expected = quantize(x, scale, zero_point, np.uint8)
            if got.dtype != np.uint8:
                problems.append(f"return uint8, got {got.dtype}.")
                break
            if not np.array_equal(got, expected):
                hint = ""
                if np.array_equal(got, (x / scale + zero_point).clip(0, 255).astype(np.uint8)):
                    hint = " Round before converting: astype truncates."
                problems.append(f"scale {scale}, zero point {zero_point}: expected "
                                f"{expected.tolist()}, got {got.tolist()}.{hint}")
        return self._report("quantize_input", problems)

    def int8_converter(self, fn: Callable) -> Result:
        """``fn(saved_model_dir, representative)`` returns a full-integer TFLite flatbuffer."""
        import tempfile

        from mnist_course import data, export

        model, split = _probe_lenet(3000, epochs=1)
        x = data.to_model_input(split.x_train[:3000])
        with tempfile.TemporaryDirectory() as folder:
            saved = export.export_saved_model(model, folder, "probe", 1)
            flatbuffer, problem = _attempt(fn, str(saved), x[:100])
        if problem:
            return self._report("int8_converter", [problem])
        if not isinstance(flatbuffer, bytes):
            return self._report("int8_converter", [
                f"return the converter's bytes, got {type(flatbuffer).__name__}."])
        lite = export.TFLiteModel(flatbuffer)
        problems = []
        floats = [t for t in lite.tensor_types() if t.startswith("float")]
        if floats:
            problems.append(f"float tensors remain ({', '.join(floats)}): restrict the ops to "
                            "TFLITE_BUILTINS_INT8 and give a representative dataset.")
        for side, detail in (("input", lite.input), ("output", lite.output)):
            if detail["dtype"] != np.uint8:
                problems.append(f"the {side} is {detail['dtype'].__name__}, not uint8: set "
                                f"inference_{side}_type.")
        if not problems:
            x_test = data.to_model_input(split.x_test[:1000])
            float_acc = np.mean(model.predict(x_test, verbose=0).argmax(-1) == split.y_test[:1000])
            int8_acc = np.mean(lite.predict(x_test).argmax(-1) == split.y_test[:1000])
            if (float_acc - int8_acc) * 100 > 1.0:
                problems.append(f"accuracy fell from {float_acc:.3f} to {int8_acc:.3f}: is the "
                                "representative data scaled like the training data?")
        return self._report("int8_converter", problems)

    def heaviest_op(self, fn: Callable) -> Result:
        """``fn(interpreter)`` returns the index of the operator with the most MACs."""
        import tempfile

        from mnist_course import export, models

        model = models.compact_cnn()
        representative = np.random.default_rng(0).uniform(0, 1, (20, 28, 28, 1))
        with tempfile.TemporaryDirectory() as folder:
            saved = export.export_saved_model(model, folder, "probe", 1)
            lite = export.TFLiteModel(export.to_tflite(saved, "int8", representative))
        costs = lite.op_macs()
        best = max(costs, key=lambda c: c[2])
        got, problem = _attempt(fn, lite.interpreter)
        if problem:
            return self._report("heaviest_op", [problem])
        problems = []
        if got != best[0]:
            named = {i: (name, macs) for i, name, macs in costs}
            seen = named.get(got, ("not an operator index", 0))
            problems.append(f"operator {got} ({seen[0]}, {seen[1]:,} MACs) is not the heaviest; "
                            "count MACs from the output and weight shapes of each CONV_2D, "
                            "DEPTHWISE_CONV_2D and FULLY_CONNECTED.")
        return self._report("heaviest_op", problems)

    # -- chapter 03 -----------------------------------------------------------------

    def fgsm(self, fn: Callable) -> Result:
        """``fn(model, images, labels, epsilon)`` returns FGSM images, as robustness.fgsm does."""
        from mnist_course import data, models, robustness
        from mnist_course.runtime import seed_everything

        seed_everything(0)
        model = models.lenet5()
        mnist = data.load_mnist()
        x, y = data.to_model_input(mnist.x_test[:64]), mnist.y_test[:64]
        got, problem = _attempt(fn, model, x.copy(), y.copy(), 0.1)
        if problem:
            if "watch" in problem or "numpy" in problem.lower():
                problem += " Convert the images with tf.convert_to_tensor before tape.watch."
            return self._report("fgsm", [problem])
        got = np.asarray(got)
        problems = []
        if got.shape != x.shape:
            return self._report("fgsm", [f"expected shape {x.shape}, got {got.shape}."])
        if np.abs(got - x).max() > 0.1 + 1e-6:
            problems.append(f"pixels moved by up to {np.abs(got - x).max():.3f}, more than "
                            "epsilon = 0.1.")
        if got.min() < 0 or got.max() > 1:
            problems.append("values leave [0, 1]: clip the result.")
        reference = robustness.fgsm(model, x, y, 0.1)
        agree = np.mean(np.isclose(got, reference, atol=1e-5))
        if not problems and agree < 0.99:
            problems.append(f"only {agree:.0%} of pixels match the reference: step along the "
                            "sign of the gradient of the cross-entropy on the logits "
                            "(from_logits=True), with respect to the input.")
        return self._report("fgsm", problems)

    def random_erasing(self, make: Callable) -> Result:
        """``make(probability)`` returns a layer erasing rectangles in training only."""
        layer, problem = _attempt(make, 1.0)
        if problem:
            return self._report("random_erasing", [problem])
        x = np.ones((32, 28, 28, 1), np.float32)
        problems = []
        try:
            train = np.asarray(layer(x, training=True))
            infer = np.asarray(layer(x, training=False))
        except Exception as err:  # the learner's layer may fail in any way; report it
            return self._report("random_erasing", [f"calling the layer raised "
                                                   f"{type(err).__name__}: {err}"])
        if train.shape != x.shape or infer.shape != x.shape:
            problems.append(f"the output shape must equal the input's {x.shape}.")
        elif not np.array_equal(infer, x):
            problems.append("at inference (training=False) images must pass unchanged.")
        else:
            erased = (train < 0.5).reshape(32, -1).mean(axis=1)
            if train.min() < 0 or train.max() > 1:
                problems.append("values leave [0, 1].")
            if np.mean(erased > 0) < 0.9:
                problems.append("with probability 1.0, (nearly) every image should have a "
                                "rectangle erased in training.")
            if erased.max() > 0.3:
                problems.append(f"up to {erased.max():.0%} of an image was erased: keep the "
                                "rectangle within half the side (a quarter of the area).")
            layer_half, _ = _attempt(make, 0.0)
            if layer_half is not None and not np.array_equal(
                    np.asarray(layer_half(x, training=True)), x):
                problems.append("with probability 0.0 no image should change.")
        return self._report("random_erasing", problems)

    def attack_evaluation(self, fn: Callable) -> Result:
        """``fn(model, images, labels)`` returns ``(accuracy, perturbed_images)``."""
        from mnist_course import data

        model, split = _probe_lenet(5000, epochs=2)
        x, y = data.to_model_input(split.x_test[:500]), split.y_test[:500]
        out, problem = _attempt(fn, model, x.copy(), y.copy())
        if problem:
            return self._report("attack_evaluation", [problem])
        try:
            acc, perturbed = out
            acc, perturbed = float(acc), np.asarray(perturbed, dtype=np.float32)
        except (TypeError, ValueError):
            return self._report("attack_evaluation", [
                "return a pair: (accuracy as a number, the perturbed images)."])
        problems = []
        if perturbed.shape != x.shape:
            return self._report("attack_evaluation", [
                f"the perturbed images should have shape {x.shape}, got {perturbed.shape}."])
        if perturbed.min() < 0 or perturbed.max() > 1:
            problems.append("the perturbed images leave [0, 1].")
        honest = float(np.mean(model.predict(perturbed, verbose=0).argmax(-1) == y))
        clean = float(np.mean(model.predict(x, verbose=0).argmax(-1) == y))
        if abs(acc - honest) > 0.005 and abs(acc / 100 - honest) > 0.005:
            problems.append(f"you report {acc:.3f}, but the model scores {honest:.3f} on your "
                            "images: compute the accuracy on the perturbed images.")
        if honest >= clean:
            problems.append(f"accuracy on your images ({honest:.3f}) is not below the clean "
                            f"accuracy ({clean:.3f}): the attack does nothing.")
        return self._report("attack_evaluation", problems)

    # -- chapter 02 -----------------------------------------------------------------

    @staticmethod
    def _samples(space, n: int = 400) -> list:
        from hyperopt.pyll import stochastic

        rng = np.random.default_rng(0)
        return [stochastic.sample(space, rng=rng) for _ in range(n)]

    def fixed_space(self, fn: Callable[[], dict]) -> Result:
        """``fn()`` returns the article's space with its range bug fixed."""
        space, problem = _attempt(fn)
        if problem:
            return self._report("fixed_space", [problem])
        try:
            draws = self._samples(space)
        except Exception as err:  # not a Hyperopt space
            return self._report("fixed_space", [f"Hyperopt cannot sample it ({err})."])
        problems = []
        missing = {"lr", "batch_size", "dropout", "filters"} - set(draws[0])
        if missing:
            return self._report("fixed_space", [f"missing keys: {sorted(missing)}."])
        lrs = np.array([d["lr"] for d in draws])
        if lrs.min() < 1e-5 or lrs.max() > 1e-2:
            problems.append(f"lr spans {lrs.min():.2g}..{lrs.max():.2g}, outside [1e-5, 1e-2]: "
                            "hp.loguniform takes natural logarithms of the bounds.")
        elif np.mean(lrs < 1e-4) < 0.2 or np.mean(lrs > 1e-3) < 0.2:
            problems.append("lr should be log-uniform: about a third of draws per decade.")
        if {int(d["batch_size"]) for d in draws} != {32, 64, 128, 256}:
            problems.append("batch_size should be one of 32, 64, 128, 256.")
        drops = np.array([d["dropout"] for d in draws])
        if drops.min() < 0.1 or drops.max() > 0.5 or drops.max() - drops.min() < 0.3:
            problems.append("dropout should be uniform on [0.1, 0.5].")
        if {float(d["filters"]) for d in draws} != {16.0, 24.0, 32.0, 40.0, 48.0, 56.0, 64.0}:
            problems.append("filters should take 16, 24, ..., 64 (hp.quniform with q=8).")
        return self._report("fixed_space", problems)

    def conditional_space(self, fn: Callable[[], dict]) -> Result:
        """``fn()`` returns a space whose ``optimizer`` is adam(lr) or sgd(lr, momentum)."""
        space, problem = _attempt(fn)
        if problem:
            return self._report("conditional_space", [problem])
        try:
            optimizers = [d["optimizer"] for d in self._samples(space)]
        except Exception as err:  # not a Hyperopt space, or no 'optimizer' key
            return self._report("conditional_space", [f"cannot sample an 'optimizer' ({err})."])
        problems = []
        names = {o.get("name") for o in optimizers}
        if names != {"adam", "sgd"}:
            problems.append(f"optimizer names drawn: {sorted(map(str, names))}; expected adam "
                            "and sgd.")
        for name, low, high in (("adam", 1e-5, 1e-2), ("sgd", 1e-3, 1e-1)):
            lrs = np.array([o["lr"] for o in optimizers if o.get("name") == name])
            if len(lrs) and (lrs.min() < low or lrs.max() > high):
                problems.append(f"{name}'s lr spans {lrs.min():.2g}..{lrs.max():.2g}, outside "
                                f"[{low:g}, {high:g}].")
        if any("momentum" in o for o in optimizers if o.get("name") == "adam"):
            problems.append("adam should have no momentum parameter: it belongs to sgd only.")
        moms = [o.get("momentum") for o in optimizers if o.get("name") == "sgd"]
        if moms and (None in moms or min(moms) < 0.5 or max(moms) > 0.99):
            problems.append("sgd needs momentum uniform on [0.5, 0.99].")
        return self._report("conditional_space", problems)

    def early_stopping_objective(self, make: Callable) -> Result:
        """``make(train_epoch, max_epochs, patience)`` returns a Hyperopt objective."""
        from hyperopt import STATUS_FAIL, STATUS_OK

        cases = [  # (losses per epoch, patience, max_epochs, expected result)
            ([1.0, 0.8, 0.7, 0.75, 0.76, 0.77, 0.5], 3, 20, {"loss": 0.7, "epochs": 6}),
            ([1.0, 0.9, 0.8, 0.7, 0.6], 3, 4, {"loss": 0.7, "epochs": 4}),
            ([1.0, float("nan"), 0.5], 3, 20, {"status": STATUS_FAIL}),
        ]
        problems = []
        for losses, patience, max_epochs, expected in cases:
            calls = []

            def train_epoch(params, epoch, losses=losses, calls=calls):
                calls.append(epoch)
                return losses[min(epoch, len(losses) - 1)]

            objective, problem = _attempt(make, train_epoch, max_epochs, patience)
            if problem:
                return self._report("early_stopping_objective", [problem])
            result, problem = _attempt(objective, {"lr": 0.001})
            if problem:
                return self._report("early_stopping_objective", [problem])
            if not isinstance(result, dict):
                return self._report("early_stopping_objective",
                                     ["the objective must return a dict."])
            label = f"losses {losses}, patience {patience}, max_epochs {max_epochs}"
            if "status" in expected:
                if result.get("status") != STATUS_FAIL:
                    problems.append(f"{label}: a non-finite loss should give status "
                                    f"STATUS_FAIL, got {result.get('status')!r}.")
                continue
            if result.get("status") != STATUS_OK:
                problems.append(f"{label}: status should be STATUS_OK ('ok').")
            if result.get("loss") != expected["loss"]:
                problems.append(f"{label}: loss should be the best seen, {expected['loss']}, "
                                f"got {result.get('loss')}.")
            if result.get("epochs") != expected["epochs"] or len(calls) != expected["epochs"]:
                problems.append(f"{label}: should run {expected['epochs']} epochs, ran "
                                f"{len(calls)} and reported {result.get('epochs')}.")
        return self._report("early_stopping_objective", problems)


#: For chapters: explains, never raises.
check = Checker(strict=False)
#: For solutions notebooks: raises AssertionError on any problem.
strict_check = Checker(strict=True)
