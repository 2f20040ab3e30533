"""Checkers of chapter 03 (augmentation and adversarial robustness): FGSM and its L2
variant, random erasing, an honest attack evaluation backed by a random control."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mnist_course.course.checks.core import Checker, Result, attempt, attempt_without, probe_lenet

#: the L-infinity budget of the attack_evaluation exercise
ATTACK_EPSILON = 0.1
#: the L2 budget of the fgm_l2 exercise (per image, over its 784 pixels)
L2_EPSILON = 2.0
#: how many points more than random noise an attack must cost to count as the gradient's doing
GRADIENT_MARGIN = 10.0


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

    def fgm_l2(self, fn: Callable) -> Result:
        """``fn(model, images, labels, epsilon)`` returns the L2 fast gradient method's
        images: each image moved by ``epsilon`` along its own gradient divided by its L2
        norm, then clipped to [0, 1]."""
        import tensorflow as tf

        from mnist_course import data, models, robustness
        from mnist_course.course.profile import seed_everything

        seed_everything(0)
        model = models.lenet5()
        mnist = data.load_mnist()
        x, y = data.to_model_input(mnist.x_test[:64]), mnist.y_test[:64]
        xt = tf.convert_to_tensor(x)
        with tf.GradientTape() as tape:
            tape.watch(xt)
            loss = tf.keras.losses.sparse_categorical_crossentropy(
                y, model(xt, training=False), from_logits=True)
        gradient = tape.gradient(loss, xt).numpy()
        norms = np.sqrt((gradient ** 2).reshape(len(x), -1).sum(axis=1))
        step = gradient / np.maximum(norms, 1e-12)[:, None, None, None]
        reference = np.clip(x + L2_EPSILON * step, 0.0, 1.0)
        got, problem = attempt_without(
            (robustness.fgsm, robustness.pgd, robustness._fgsm_step), fn, model, x.copy(),
            y.copy(), L2_EPSILON)
        if problem:
            if "watch" in problem or "numpy" in problem.lower():
                problem += " Convert the images with tf.convert_to_tensor before tape.watch."
            return self._report("fgm_l2", [problem])
        got = np.asarray(got, dtype=np.float32)
        if got.shape != x.shape:
            return self._report("fgm_l2", [f"expected shape {x.shape}, got {got.shape}."])
        problems = []
        if got.min() < 0 or got.max() > 1:
            problems.append("values leave [0, 1]: clip the result.")
        lengths = np.sqrt(((got - x) ** 2).reshape(len(x), -1).sum(axis=1))
        if lengths.max() > L2_EPSILON * (1 + 1e-3):
            sign_length = ATTACK_EPSILON * np.sqrt(x[0].size)
            problems.append(
                f"an image moved by an L2 length of up to {lengths.max():.2f}, more than "
                f"epsilon = {L2_EPSILON}. The sign of the gradient spreads epsilon over "
                f"every pixel (a length of epsilon * {np.sqrt(x[0].size):.0f}; at "
                f"{ATTACK_EPSILON} already {sign_length:.1f}): divide the gradient by its "
                "L2 norm instead.")
        elif lengths.max() < 0.5 * L2_EPSILON:
            problems.append(
                f"no image moved by more than an L2 length of {lengths.max():.3f}, far "
                f"short of epsilon = {L2_EPSILON}: normalise each image's gradient by its "
                "own norm (over its pixels), not by the norm of the whole batch.")
        agree = np.mean(np.isclose(got, reference, atol=1e-4))
        if not problems and agree < 0.99:
            problems.append(
                f"only {agree:.0%} of pixels match the reference: step along the gradient "
                "of the cross-entropy on the logits (from_logits=True) with respect to the "
                "input, divided by each image's own L2 norm, then clip to [0, 1].")
        return self._report("fgm_l2", problems)

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

    def attack_evaluation(self, fn: Callable, random_fn: Callable | None = None,
                          gradient_does_it: bool | None = None) -> Result:
        """``fn(model, images, labels)`` returns ``(accuracy, perturbed_images)``;
        ``random_fn`` the same for the budget spent at random (every pixel moved by
        +-epsilon with a fair coin); ``gradient_does_it`` says whether ``fn`` costs at least
        :data:`GRADIENT_MARGIN` points more accuracy than ``random_fn``."""
        from mnist_course import data

        model, split = probe_lenet(5000, epochs=2)
        x, y = data.to_model_input(split.x_test[:500]), split.y_test[:500]
        clean = float(np.mean(model.predict(x, verbose=0).argmax(-1) == y))
        problems, honest = self._scored(fn, "your attack", model, x, y)
        if honest is not None and honest >= clean:
            problems.append(f"accuracy on your images ({honest:.3f}) is not below the clean "
                            f"accuracy ({clean:.3f}): the attack does nothing.")
        if random_fn is None:
            problems.append("back your explanation with a measurement: write "
                            "random_and_score and pass it, with GRADIENT_DOES_IT, to the "
                            "checker.")
            return self._report("attack_evaluation", problems)
        random_problems, random_acc = self._scored(random_fn, "the random control", model,
                                                   x, y, random=True)
        problems += random_problems
        if honest is None or random_acc is None:
            return self._report("attack_evaluation", problems)
        costs_more = 100 * (random_acc - honest)
        measured = bool(costs_more >= GRADIENT_MARGIN)
        if not isinstance(gradient_does_it, bool):
            problems.append(f"set GRADIENT_DOES_IT to True or False (got "
                            f"{gradient_does_it!r}), from what you measured.")
        elif gradient_does_it != measured:
            problems.append(
                f"GRADIENT_DOES_IT is {gradient_does_it}, but on the checker's model your "
                f"attack leaves {honest:.1%} and the random control {random_acc:.1%}: the "
                f"attack costs {costs_more:+.1f} points more, "
                f"{'at least' if measured else 'fewer than'} {GRADIENT_MARGIN:g}.")
        return self._report("attack_evaluation", problems)

    @staticmethod
    def _scored(fn: Callable, what: str, model, x: np.ndarray, y: np.ndarray,
                random: bool = False) -> tuple[list[str], float | None]:
        """Run ``fn``; the problems with its pair (budget, range, honesty) and the
        accuracy the model really scores on its images (None if it could not be scored)."""
        out, problem = attempt(fn, model, x.copy(), y.copy())
        if problem:
            return [f"{what}: {problem}"], None
        try:
            acc, perturbed = out
            acc, perturbed = float(acc), np.asarray(perturbed, dtype=np.float32)
        except (TypeError, ValueError):
            return [f"{what}: return a pair: (accuracy as a number, the perturbed images)."], None
        if perturbed.shape != x.shape:
            return [f"{what}: the perturbed images should have shape {x.shape}, got "
                    f"{perturbed.shape}."], None
        problems = []
        if perturbed.min() < 0 or perturbed.max() > 1:
            problems.append(f"{what}: the perturbed images leave [0, 1].")
        delta = perturbed - x
        moved = float(np.abs(delta).max())
        if moved > ATTACK_EPSILON + 1e-5:
            problems.append(f"{what}: pixels moved by up to {moved:.3f}, more than epsilon = "
                            f"{ATTACK_EPSILON}: project back into the epsilon-ball (an "
                            "unbounded change is not an attack, it is a different image).")
        honest = float(np.mean(model.predict(perturbed, verbose=0).argmax(-1) == y))
        if abs(acc - honest) > 0.005 and abs(acc / 100 - honest) > 0.005:
            problems.append(f"{what}: you report {acc:.3f}, but the model scores {honest:.3f} "
                            "on your images: compute the accuracy on the perturbed images.")
        if random:
            # every pixel moves by the full budget, except where [0, 1] clips it
            free = (x > ATTACK_EPSILON + 1e-6) & (x < 1 - ATTACK_EPSILON - 1e-6)
            full = np.isclose(np.abs(delta[free]), ATTACK_EPSILON, atol=1e-4)
            if free.any() and full.mean() < 0.99:
                problems.append(f"{what}: move every pixel by +-{ATTACK_EPSILON} (clipped "
                                f"only at 0 and 1); {1 - full.mean():.0%} of the pixels that "
                                "could move the whole way did not.")
            up = delta[free] > 0
            if free.any() and not 0.4 <= up.mean() <= 0.6:
                problems.append(f"{what}: {up.mean():.0%} of the pixels moved up; a fair "
                                "coin moves about half of them up.")
            if free.any():
                import tensorflow as tf

                xt = tf.convert_to_tensor(x)
                with tf.GradientTape() as tape:
                    tape.watch(xt)
                    loss = tf.keras.losses.sparse_categorical_crossentropy(
                        y, model(xt, training=False), from_logits=True)
                uphill = tape.gradient(loss, xt).numpy()[free] > 0
                follows = float(np.mean(up == uphill))
                if follows > 0.7:
                    problems.append(f"{what}: {follows:.0%} of the pixels moved the way the "
                                    "gradient points; a control spends the budget at "
                                    "random, not along the gradient.")
        return problems, honest


#: For the chapter: explains, never raises.
check = Checks(strict=False)
#: For the solutions notebook: raises AssertionError on any problem.
strict_check = Checks(strict=True)
