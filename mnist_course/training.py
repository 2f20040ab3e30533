"""One way to train every model in the course, so that chapters compare architectures, not
training recipes: Adam with a cosine-decaying learning rate, sparse cross-entropy on logits."""

from __future__ import annotations

import math
import time

import keras
import numpy as np


class EpochBar(keras.callbacks.Callback):
    """A tqdm progress bar over epochs showing the latest validation accuracy."""

    def __init__(self, epochs: int, desc: str) -> None:
        super().__init__()
        self.epochs, self.desc, self.bar = epochs, desc, None

    def on_train_begin(self, logs=None) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=self.epochs, desc=self.desc, unit="epoch", leave=True)

    def on_epoch_end(self, epoch: int, logs=None) -> None:
        logs = logs or {}
        shown = {k: f"{v:.4f}" for k, v in logs.items() if k in ("accuracy", "val_accuracy")}
        self.bar.set_postfix(shown)
        self.bar.update(1)

    def on_train_end(self, logs=None) -> None:
        self.bar.close()


def optimizer(steps: int, learning_rate: float = 2e-3) -> keras.optimizers.Optimizer:
    """The course's optimizer: Adam, cosine decay from ``learning_rate`` to 0 over ``steps``."""
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=max(1, steps))
    return keras.optimizers.Adam(schedule)


def compile_model(model: keras.Model, steps: int, learning_rate: float = 2e-3) -> keras.Model:
    """Compile with :func:`optimizer` and sparse cross-entropy on logits."""
    model.compile(
        optimizer=optimizer(steps, learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def build_for_fit(model: keras.Model, x: np.ndarray, y: np.ndarray) -> keras.Model:
    """Create a compiled model's optimiser slots and metric variables now, from the first
    example of ``(x, y)``, so that ``fit`` traces its training step once instead of twice.

    Keras's TensorFlow trainer (without a distribution strategy) creates them inside its
    first trace of the step, and TensorFlow traces a function that created variables a
    second time. The training is the same either way; only the first epoch is faster.
    :func:`fit` calls this itself; call it after your own ``model.compile``. The metrics are
    reset afterwards (``fit`` and ``evaluate`` reset them too). Returns ``model``."""
    if getattr(model, "loss", None) is None:
        raise ValueError(f"{model.name} is not compiled: compile it with its loss first")
    if len(x) == 0 or len(y) == 0:
        raise ValueError("build_for_fit needs at least one example in x and in y")
    predicted = model(x[:1], training=False)  # also builds an unbuilt model's layers
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.compute_metrics(x[:1], y[:1], predicted, sample_weight=None)
    model.reset_metrics()
    return model


def augmentation_policy(rotation: float = 15, shift: float = 0.1, zoom: float = 0.1,
                        shear: float = 0.1, seed: int | None = None) -> keras.Sequential:
    """The article's geometric policy as Keras 3 preprocessing layers, active only in training.

    ``rotation`` in degrees (either way), ``shift`` and ``zoom`` as fractions of the image,
    ``shear`` as Keras's shear factor (a fraction of the image width; 0.1 is about 5.7
    degrees). Uncovered pixels are filled with 0, the background of MNIST.
    """
    fill = {"fill_mode": "constant", "fill_value": 0.0}
    return keras.Sequential([
        keras.layers.RandomRotation(rotation / 360, seed=seed, **fill),
        keras.layers.RandomTranslation(shift, shift, seed=seed, **fill),
        keras.layers.RandomZoom((-zoom, zoom), seed=seed, **fill),
        keras.layers.RandomShear(shear, shear, seed=seed, **fill),
    ], name="augmentation")


def batches(x: np.ndarray, y: np.ndarray, batch_size: int = 128, seed: int = 0,
            augment: keras.Layer | None = None):
    """The training stream: ``(x, y)`` reshuffled every epoch in an order fixed by ``seed``,
    batched, and passed through ``augment`` (training mode) if given. Two runs with the same
    seed see the same images in the same order, with or without ``augment``: what makes a
    comparison of treatments paired."""
    import tensorflow as tf

    data = (tf.data.Dataset.from_tensor_slices((x.astype(np.float32), y))
            .shuffle(len(x), seed=seed, reshuffle_each_iteration=True).batch(batch_size))
    if augment is not None:
        data = data.map(lambda xb, yb: (augment(xb, training=True), yb),
                        num_parallel_calls=tf.data.AUTOTUNE)
    return data.prefetch(tf.data.AUTOTUNE)


def fit(model: keras.Model, x: np.ndarray, y: np.ndarray, validation: tuple | None = None,
        epochs: int = 5, batch_size: int = 128, learning_rate: float = 2e-3,
        progress: bool = True, augment: keras.Layer | None = None, seed: int = 0) -> dict:
    """Compile (and :func:`build_for_fit`) and train ``model`` on :func:`batches` (data order
    fixed by ``seed``, every epoch new variants through ``augment`` if given); return its
    history (a dict of per-epoch lists) plus the training time in seconds under
    ``"seconds"``, building included."""
    steps = epochs * math.ceil(len(x) / batch_size)
    compile_model(model, steps, learning_rate)
    callbacks = [EpochBar(epochs, model.name)] if progress else []
    start = time.perf_counter()
    build_for_fit(model, x, y)
    history = model.fit(batches(x, y, batch_size, seed, augment), validation_data=validation,
                        epochs=epochs, verbose=0, callbacks=callbacks,
                        shuffle=False)  # batches() shuffles, with the seed
    return {**history.history, "seconds": time.perf_counter() - start}
