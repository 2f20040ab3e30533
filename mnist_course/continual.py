"""Continual learning on Split-MNIST: tasks, the accuracy matrix, EWC and replay.

Split-MNIST learns five tasks of two digits each, one after another. Two scenarios
(van de Ven, Tuytelaars and Tolias 2022):

- *task-incremental*: the task is known at test time, so the network only chooses between
  the task's two digits (here: the other eight outputs are masked);
- *class-incremental*: one 10-way output and no task label (the article's "add new digit
  classes").

No maintained TensorFlow library implements these methods, so each is a few lines here: a
training step with an optional penalty and per-example output masks, the diagonal Fisher
information for EWC (Kirkpatrick et al. 2017), and a class-balanced replay buffer.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf
from keras import layers

TASKS: tuple[tuple[int, ...], ...] = ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9))
N_CLASSES = 10
SCENARIOS = ("task-incremental", "class-incremental")

#: van de Ven, Tuytelaars and Tolias (2022), Nature Machine Intelligence 4, 1185-1197:
#: class-incremental Split-MNIST, average accuracy after the last task (%), rounded to whole
#: points ("about"); a published reference, not a measurement of this course. Their setting:
#: the same MLP, 2,000 iterations of batch 128 per task, Adam, many seeds.
PUBLISHED_CLASS_INCREMENTAL = {"naive": 20, "EWC": 21, "replay": 89, "joint": 98}
#: Their training length: iterations per task, each on a batch of this many new images.
PUBLISHED_STEPS_PER_TASK, PUBLISHED_BATCH = 2_000, 128


class Task(NamedTuple):
    """One task's images and labels (the original digits, 0-9), and its digits."""

    x: np.ndarray
    y: np.ndarray
    classes: tuple[int, ...]


def split_tasks(x: np.ndarray, y: np.ndarray,
                tasks: Sequence[Sequence[int]] = TASKS) -> list[Task]:
    """The images of each task's digits, in the order given; refuses overlapping tasks and
    digits that have no image."""
    y = np.asarray(y)
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    seen: set[int] = set()
    out = []
    for classes in tasks:
        classes = tuple(int(c) for c in classes)
        if seen & set(classes):
            raise ValueError(f"digit(s) {sorted(seen & set(classes))} are in two tasks: "
                             "Split-MNIST tasks must not overlap")
        seen |= set(classes)
        missing = [c for c in classes if not (y == c).any()]
        if missing:
            raise ValueError(f"no image of digit(s) {missing} for task {classes}")
        keep = np.isin(y, classes)
        out.append(Task(x[keep], y[keep], classes))
    return out


def output_mask(classes: Sequence[int] | None, n: int = 1) -> np.ndarray:
    """``(n, 10)`` booleans: True for the outputs a prediction may choose (all of them when
    ``classes`` is None, the class-incremental scenario)."""
    mask = np.zeros(N_CLASSES, bool)
    mask[list(range(N_CLASSES)) if classes is None else list(classes)] = True
    return np.repeat(mask[None], n, axis=0)


def mlp(hidden: Sequence[int] = (400, 400), name: str = "mlp") -> keras.Model:
    """The network of van de Ven et al. for Split-MNIST: fully connected, ReLU, 10 logits."""
    return keras.Sequential(
        [keras.Input((28, 28, 1)), layers.Flatten()]
        + [layers.Dense(h, activation="relu") for h in hidden] + [layers.Dense(N_CLASSES)],
        name=name)


def masked_logits(logits, mask):
    """Logits with the outputs a prediction may not choose pushed to -1e9."""
    return tf.where(mask, logits, tf.constant(-1e9, logits.dtype))


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray,
             classes: Sequence[int] | None = None) -> float:
    """Accuracy, choosing among ``classes`` only (task-incremental) or all ten (None)."""
    logits = np.concatenate([model(x[i:i + 2000], training=False).numpy()
                             for i in range(0, len(x), 2000)])
    logits = np.where(output_mask(classes)[0], logits, -np.inf)
    return float((logits.argmax(axis=1) == np.asarray(y)).mean())


# -- the accuracy matrix ---------------------------------------------------------------------

def _square(R) -> np.ndarray:
    R = np.asarray(R, float)
    if R.ndim != 2 or R.shape[0] != R.shape[1] or R.shape[0] < 1:
        raise ValueError(f"an accuracy matrix is square, R[i, j] = accuracy on task j after "
                         f"learning task i; got shape {R.shape}")
    return R


def average_accuracy(R) -> float:
    """Mean accuracy over all tasks after the last one: the mean of the last row."""
    return float(_square(R)[-1].mean())


def forgetting(R) -> float:
    """Mean over every task but the last of (best accuracy it ever had before the end) minus
    (its accuracy at the end) (Chaudhry et al. 2018). 0 for a single task."""
    R = _square(R)
    if len(R) == 1:
        return 0.0
    return float((R[:-1, :-1].max(axis=0) - R[-1, :-1]).mean())


# -- EWC ---------------------------------------------------------------------------------------

def ewc_penalty(weights, anchors, fisher, lam: float):
    """``lam / 2 * sum_i F_i (w_i - a_i)^2`` over every tensor: zero at the anchors, quadratic
    around them, steeper where the Fisher information says a weight mattered."""
    return lam / 2 * tf.add_n([tf.reduce_sum(f * tf.square(w - a))
                               for w, a, f in zip(weights, anchors, fisher)])


def fisher_diagonal(model: keras.Model, x: np.ndarray, classes: Sequence[int] | None,
                    n_samples: int, seed: int, chunk: int = 100) -> list[np.ndarray]:
    """The diagonal of the Fisher information at the model's weights, from ``n_samples``
    images: the mean squared gradient of the log-likelihood of a label *sampled from the
    model's own prediction* (the true Fisher, not the empirical one with the data's labels),
    with outputs masked as in training. Gradients are per image (``chunk`` at a time)."""
    rng = np.random.default_rng(seed)
    pick = rng.choice(len(x), size=min(n_samples, len(x)), replace=False)
    mask = output_mask(classes)
    logits = masked_logits(model(x[pick], training=False), mask).numpy()
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    u = rng.random(len(pick))  # one label per image, drawn from the model's prediction
    labels = np.minimum((np.cumsum(p, axis=1) < u[:, None]).sum(axis=1),
                        np.flatnonzero(mask[0])[-1]).astype(np.int32)
    squared_gradients = _squared_gradients(model)
    total = [np.zeros(v.shape, np.float32) for v in model.trainable_variables]
    for i in range(0, len(pick), chunk):
        for t, g in zip(total, squared_gradients(tf.constant(x[pick[i:i + chunk]]),
                                                 tf.constant(labels[i:i + chunk]),
                                                 tf.constant(mask))):
            t += g.numpy()
    return [t / len(pick) for t in total]


_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _squared_gradients(model: keras.Model):
    """One compiled function per model (tracing one per call would cost more than it runs):
    the sum over a batch of each image's squared gradient of log p(label | image)."""
    if model not in _COMPILED:
        @tf.function(reduce_retracing=True)
        def squared_gradients(images, labels, mask):
            def one(example):
                image, label = example
                with tf.GradientTape() as tape:
                    logits = masked_logits(model(image[None], training=False), mask)
                    chosen = tf.nn.log_softmax(logits)[0, label]
                return [tf.square(g)
                        for g in tape.gradient(chosen, model.trainable_variables)]

            return [tf.reduce_sum(g, axis=0)
                    for g in tf.vectorized_map(one, (images, labels))]

        _COMPILED[model] = squared_gradients
    return _COMPILED[model]


# -- replay ------------------------------------------------------------------------------------

class ReplayBuffer:
    """At most ``per_class`` stored images of every digit seen so far, chosen at random
    (class-balanced: a digit with many images does not crowd out the others)."""

    def __init__(self, per_class: int) -> None:
        if per_class < 1:
            raise ValueError(f"per_class must be at least 1, got {per_class}")
        self.per_class = per_class
        self.x: dict[int, np.ndarray] = {}

    def add(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> None:
        """Keep a random ``per_class`` of each digit among the stored and the new images."""
        for c in np.unique(y):
            pool = x[y == c] if int(c) not in self.x else \
                np.concatenate([self.x[int(c)], x[y == c]])
            keep = rng.choice(len(pool), size=min(self.per_class, len(pool)), replace=False)
            self.x[int(c)] = pool[np.sort(keep)]

    def __len__(self) -> int:
        return sum(len(v) for v in self.x.values())

    def counts(self) -> dict[int, int]:
        return {c: len(v) for c, v in sorted(self.x.items())}

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` stored images drawn uniformly (with replacement), and their labels."""
        if not self.x:
            raise ValueError("the replay buffer is empty: add a task's images first")
        labels = np.concatenate([np.full(len(v), c) for c, v in sorted(self.x.items())])
        images = np.concatenate([v for _, v in sorted(self.x.items())])
        pick = rng.integers(len(labels), size=n)
        return images[pick], labels[pick]


def task_of(labels: np.ndarray, tasks: Sequence[Sequence[int]] = TASKS) -> np.ndarray:
    """``(n, 10)`` task-incremental output masks: each example may choose its own task's
    digits only."""
    table = np.zeros((N_CLASSES, N_CLASSES), bool)
    for classes in tasks:
        for c in classes:
            table[c, list(classes)] = True
    return table[np.asarray(labels)]
