"""Harder versions of the test set and adversarial attacks.

- ``cluttered`` / ``cluttered_set``: digits on busy backgrounds, in the spirit of the "MNIST
  variations" benchmarks (Larochelle et al., 2007: mnist-back-rand and mnist-back-image).
  Those used natural-image patches; offline we make clutter from noise and other digits.
- ``rotated`` / ``tilted_set``: digits tilted by fixed angles; ``gaussian_noise``.
- ``fgsm``, ``pgd``: adversarial examples against a model that outputs logits;
  ``adversarial_fit``: training on a mix of clean and FGSM examples.

Everything is deterministic for a seed, keeps labels and keeps pixels in their valid range.
"""

from __future__ import annotations

import numpy as np

CLUTTER_KINDS = ("noise", "digits")


def _check_images(images: np.ndarray) -> None:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"expected uint8 images of shape (N, 28, 28), got {images.dtype} {images.shape}"
        )


def cluttered(images: np.ndarray, kind: str = "noise", seed: int = 0,
              strength: float = 0.5, donors: np.ndarray | None = None) -> np.ndarray:
    """Return uint8 copies of ``images`` on cluttered backgrounds; the digit stays on top.

    - ``"noise"``: every background pixel uniform in ``[0, 255 * strength]``
      (as mnist-back-rand).
    - ``"digits"``: the sum of three randomly shifted, rotated-by-90-degree-multiples pieces of
      other digits (``donors``, default ``images`` itself), scaled to at most
      ``255 * strength``: stroke-like clutter that looks like ink but not like a digit.

    Pixels combine as ``max(digit, background)``, so the digit's own strokes are unchanged.
    """
    _check_images(images)
    if kind not in CLUTTER_KINDS:
        raise ValueError(f"unknown clutter kind {kind!r}; use one of {CLUTTER_KINDS}")
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    rng = np.random.default_rng(seed)
    n = len(images)
    if kind == "noise":
        background = rng.uniform(0.0, 255.0 * strength, size=images.shape)
    else:
        donors = images if donors is None else donors
        _check_images(donors)
        background = np.zeros(images.shape, dtype=np.float32)
        for _ in range(3):
            picked = donors[rng.integers(0, len(donors), n)].astype(np.float32)
            turns = rng.integers(1, 4, n)  # rotate by 90, 180 or 270 degrees: no longer a digit
            shifts = rng.integers(-10, 11, (n, 2))
            for i in range(n):
                piece = np.rot90(picked[i], turns[i])
                background[i] += np.roll(piece, tuple(shifts[i]), axis=(0, 1))
        background = np.minimum(background, 255.0) * strength
    out = np.maximum(images.astype(np.float32), background)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def cluttered_set(images: np.ndarray, labels: np.ndarray, seed: int = 0,
                  strength: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Every image twice, once per clutter kind: ``(2N, 28, 28)`` uint8 and the labels, in order.

    The two kinds draw from independent streams of ``seed``, so the set is the same on every
    machine for a given seed.
    """
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    parts = [cluttered(images, kind, seed=seed * len(CLUTTER_KINDS) + k, strength=strength)
             for k, kind in enumerate(CLUTTER_KINDS)]
    return np.concatenate(parts), np.concatenate([labels] * len(CLUTTER_KINDS))


def rotated(images: np.ndarray, angle: float) -> np.ndarray:
    """Rotate every image by ``angle`` degrees (counter-clockwise) about its centre, uint8,
    bilinear, black fill: the digit keeps its label, the frame its size."""
    from scipy import ndimage

    _check_images(images)
    if angle == 0:
        return images.copy()
    out = ndimage.rotate(images.astype(np.float32), angle, axes=(2, 1), reshape=False,
                         order=1, mode="constant", cval=0.0)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def tilted_set(images: np.ndarray, angles=(0, 15, 30, 45), seed: int = 0) -> dict[int, np.ndarray]:
    """The test set tilted by each angle, clockwise or counter-clockwise at random per image
    (the same choice for every angle, fixed by ``seed``). Returns ``{angle: uint8 images}``;
    labels are unchanged and in the same order."""
    _check_images(images)
    clockwise = np.random.default_rng(seed).random(len(images)) < 0.5
    tilted = {}
    for angle in angles:
        out = np.empty_like(images)
        out[clockwise] = rotated(images[clockwise], -angle)
        out[~clockwise] = rotated(images[~clockwise], angle)
        tilted[int(angle)] = out
    return tilted


def gaussian_noise(images: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    """Add N(0, sigma²) noise to float images in [0, 1] and clip back to [0, 1]."""
    noise = np.random.default_rng(seed).normal(0.0, sigma, size=images.shape)
    return np.clip(images + noise, 0.0, 1.0).astype(np.float32)


# -- adversarial examples -------------------------------------------------------------------

def _loss_gradient(model, x, y):
    """Gradient of the cross-entropy (on the model's logits) with respect to the input."""
    import tensorflow as tf

    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x, training=False)
        loss = tf.keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    return tape.gradient(loss, x)


def _fgsm_step(model, x, y, epsilon: float):
    """One FGSM step on a tensor batch: ``clip(x + epsilon * sign(grad_x loss), 0, 1)``."""
    import tensorflow as tf

    return tf.clip_by_value(x + epsilon * tf.sign(_loss_gradient(model, x, y)), 0.0, 1.0)


def _in_batches(step, images: np.ndarray, labels: np.ndarray, batch_size: int) -> np.ndarray:
    import tensorflow as tf

    out = []
    for start in range(0, len(images), batch_size):
        x = tf.convert_to_tensor(images[start : start + batch_size], tf.float32)
        y = tf.convert_to_tensor(labels[start : start + batch_size])
        out.append(step(x, y, start).numpy())
    return np.concatenate(out)


def fgsm(model, images: np.ndarray, labels: np.ndarray, epsilon: float,
         batch_size: int = 500) -> np.ndarray:
    """Fast gradient sign method (Goodfellow et al., 2015), batched.

    ``x_adv = clip(x + epsilon * sign(grad_x loss), 0, 1)``, with the cross-entropy computed on
    the model's logits (the models of this course output logits). ``images`` are float32
    ``(N, 28, 28, 1)`` in [0, 1]; they are converted to tensors before the gradient tape
    watches them (a NumPy array cannot be watched, a pitfall of the article's snippet).
    """
    import tensorflow as tf

    step = tf.function(lambda x, y: _fgsm_step(model, x, y, epsilon), reduce_retracing=True)
    return _in_batches(lambda x, y, _: step(x, y), images, labels, batch_size)


def pgd(model, images: np.ndarray, labels: np.ndarray, epsilon: float, steps: int = 10,
        step_size: float | None = None, seed: int = 0, batch_size: int = 500) -> np.ndarray:
    """Projected gradient descent (Madry et al., 2018): FGSM repeated ``steps`` times with
    ``step_size`` (default ``2.5 * epsilon / steps``) from a random start in the epsilon-ball,
    projecting back into the ball and into [0, 1] after each step. Deterministic for a seed."""
    import tensorflow as tf

    alpha = 2.5 * epsilon / steps if step_size is None else step_size
    start_noise = np.random.default_rng(seed).uniform(-epsilon, epsilon, images.shape)

    @tf.function(reduce_retracing=True)
    def attack(x, y, noise):
        x_adv = tf.clip_by_value(x + noise, 0.0, 1.0)
        for _ in range(steps):  # a Python loop: unrolled into the graph, no AutoGraph needed
            x_adv = x_adv + alpha * tf.sign(_loss_gradient(model, x_adv, y))
            x_adv = tf.clip_by_value(tf.clip_by_value(x_adv, x - epsilon, x + epsilon), 0.0, 1.0)
        return x_adv

    def step(x, y, start):
        noise = tf.convert_to_tensor(start_noise[start : start + len(x)], tf.float32)
        return attack(x, y, noise)

    return _in_batches(step, images, labels, batch_size)


def adversarial_fit(model, x: np.ndarray, y: np.ndarray, epochs: int = 5, epsilon: float = 0.1,
                    clean_share: float = 0.5, batch_size: int = 128,
                    learning_rate: float = 2e-3, seed: int = 0, progress: bool = True,
                    validation: tuple | None = None) -> dict:
    """Train on a mix of clean and FGSM examples made on the fly against the current weights.

    Each batch's loss is ``clean_share * loss(clean) + (1 - clean_share) * loss(adversarial)``
    (Goodfellow et al.'s mixture). Same optimiser, schedule and, for a given ``seed``, data
    order as ``training.fit``. Returns ``{"loss": [...], "seconds": ...}``, and with
    ``validation=(x_val, y_val)`` the clean validation accuracy after each epoch under
    ``"val_accuracy"`` (as ``training.fit``'s history has it).
    """
    import math
    import time

    import keras
    import tensorflow as tf
    from tqdm import tqdm

    from mnist_course.measure import accuracy
    from mnist_course.training import batches
    from mnist_course.training import optimizer as course_optimizer

    optimizer = course_optimizer(epochs * math.ceil(len(x) / batch_size), learning_rate)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def train_step(xb, yb):
        x_adv = tf.stop_gradient(_fgsm_step(model, xb, yb, epsilon))
        with tf.GradientTape() as tape:
            loss = (clean_share * loss_fn(yb, model(xb, training=True))
                    + (1 - clean_share) * loss_fn(yb, model(x_adv, training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    data = batches(x, y, batch_size, seed)  # the data order training.fit uses for this seed
    history, start = {"loss": []}, time.perf_counter()
    for _ in tqdm(range(epochs), desc=f"{model.name} (adversarial)", unit="epoch",
                  disable=not progress):
        losses = [float(train_step(xb, yb)) for xb, yb in data]
        history["loss"].append(float(np.mean(losses)))
        if validation is not None:
            history.setdefault("val_accuracy", []).append(accuracy(model, *validation))
    history["seconds"] = time.perf_counter() - start
    return history
