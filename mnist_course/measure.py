"""Measuring models: accuracy, single-image latency, file size."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def accuracy(model, images: np.ndarray, labels: np.ndarray, batch_size: int = 1000) -> float:
    """Top-1 accuracy of a Keras model (logits or probabilities) on float32 images, in
    batches of ``batch_size``. The model is called directly: ``model.predict`` would trace a
    graph for every new model, which costs more than scoring a few thousand images."""
    if len(images) == 0 or len(images) != len(labels):
        raise ValueError(f"accuracy needs one label per image and at least one image; got "
                         f"{len(images)} images and {len(labels)} labels")
    logits = np.concatenate([np.asarray(model(images[i:i + batch_size], training=False))
                             for i in range(0, len(images), batch_size)])
    return float(np.mean(np.argmax(logits, axis=-1) == labels))


def latency_ms(predict: Callable, images, runs: int = 300, warmup: int = 20) -> dict:
    """Single-image latency of ``predict`` in milliseconds: p50, p99 and mean over ``runs``
    calls, and every timing under ``"samples"`` (for an interval, ``claims.bootstrap_interval``).

    ``images`` is a sequence of inputs, one per call, cycled through: images ``(K, 28, 28, 1)``
    (each call gets a batch of one, ``(1, 28, 28, 1)``), ready batches ``(K, 1, 28, 28, 1)``,
    or anything else ``predict`` takes, such as file paths. The first ``warmup`` calls (graph
    tracing, caches, lazy allocation) are not timed.
    """
    add_batch_axis = isinstance(images, np.ndarray) and images.ndim == 4
    batches = [images[i % len(images)][np.newaxis] if add_batch_axis
               else images[i % len(images)] for i in range(runs + warmup)]
    for batch in batches[:warmup]:
        _block(predict(batch))
    times = np.empty(runs)
    for i, batch in enumerate(batches[warmup:]):
        start = time.perf_counter()
        _block(predict(batch))
        times[i] = time.perf_counter() - start
    times *= 1000.0
    return {"p50": float(np.percentile(times, 50)), "p99": float(np.percentile(times, 99)),
            "mean": float(times.mean()), "samples": times}


def _block(result: object) -> None:
    """Make sure asynchronous results are computed before the clock stops."""
    if hasattr(result, "numpy"):
        result.numpy()


def keras_file_size(model) -> int:
    """Bytes of the model saved in Keras's native ``.keras`` format."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"{model.name}.keras"
        model.save(path)
        return path.stat().st_size
