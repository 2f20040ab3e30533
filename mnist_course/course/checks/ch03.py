"""Checkers of chapter 03 (augmentation and adversarial robustness): FGSM, random
erasing, an honest attack evaluation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mnist_course.course.checks.core import Checker, Result, attempt, attempt_without, probe_lenet

#: the L-infinity budget of the attack_evaluation exercise
ATTACK_EPSILON = 0.1


class Checks(Checker):
    """The exercises of this chapter; ``strict=True`` raises on failure (solutions)."""


    def fgsm(self, fn: Callable) -> Result:
        """``fn(model, images, labels, epsilon)`` returns FGSM images, as robustness.fgsm does."""
        from mnist_course import data, models, robustness
        from mnist_course.course.profile import seed_everything

        seed_everything(0)
        model = models.lenet5()
        mnist = data.load_mnist()
        x, y = data.to_model_input(mnist.x_test[:64]), mnist.y_test[:64]
        reference = robustness.fgsm(model, x, y, 0.1)
        got, problem = attempt_without((robustness.fgsm,), fn, model, x.copy(), y.copy(), 0.1)
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
        agree = np.mean(np.isclose(got, reference, atol=1e-5))
        if not problems and agree < 0.99:
            problems.append(f"only {agree:.0%} of pixels match the reference: step along the "
                            "sign of the gradient of the cross-entropy on the logits "
                            "(from_logits=True), with respect to the input.")
        return self._report("fgsm", problems)

    def random_erasing(self, make: Callable) -> Result:
        """``make(probability)`` returns a layer erasing rectangles in training only."""
        layer, problem = attempt(make, 1.0)
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
            layer_half, _ = attempt(make, 0.0)
            if layer_half is not None and not np.array_equal(
                    np.asarray(layer_half(x, training=True)), x):
                problems.append("with probability 0.0 no image should change.")
        return self._report("random_erasing", problems)

    def attack_evaluation(self, fn: Callable) -> Result:
        """``fn(model, images, labels)`` returns ``(accuracy, perturbed_images)``."""
        from mnist_course import data

        model, split = probe_lenet(5000, epochs=2)
        x, y = data.to_model_input(split.x_test[:500]), split.y_test[:500]
        out, problem = attempt(fn, model, x.copy(), y.copy())
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
        moved = float(np.abs(perturbed - x).max())
        if moved > ATTACK_EPSILON + 1e-5:
            problems.append(f"pixels moved by up to {moved:.3f}, more than epsilon = "
                            f"{ATTACK_EPSILON}: project back into the epsilon-ball (an "
                            "unbounded change is not an attack, it is a different image).")
        honest = float(np.mean(model.predict(perturbed, verbose=0).argmax(-1) == y))
        clean = float(np.mean(model.predict(x, verbose=0).argmax(-1) == y))
        if abs(acc - honest) > 0.005 and abs(acc / 100 - honest) > 0.005:
            problems.append(f"you report {acc:.3f}, but the model scores {honest:.3f} on your "
                            "images: compute the accuracy on the perturbed images.")
        if honest >= clean:
            problems.append(f"accuracy on your images ({honest:.3f}) is not below the clean "
                            f"accuracy ({clean:.3f}): the attack does nothing.")
        return self._report("attack_evaluation", problems)


#: For the chapter: explains, never raises.
check = Checks(strict=False)
#: For the solutions notebook: raises AssertionError on any problem.
strict_check = Checks(strict=True)
