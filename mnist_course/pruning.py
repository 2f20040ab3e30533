"""Magnitude pruning for Keras 3, following the rules of tensorflow-model-optimization.

``tensorflow-model-optimization`` (tfmot) prunes only Keras 2 models (``tf_keras``) and
refuses Keras 3 ones, and Keras 3 has no pruning API. Its published rules are small enough to
write down:

- a *polynomial-decay* sparsity schedule: from ``initial`` at ``begin_step`` to ``final`` at
  ``end_step``, ``s(t) = final + (initial - final) * (1 - p) ** 3`` with ``p`` the share of
  the way from begin to end;
- masks recomputed every ``frequency`` steps between ``begin_step`` and ``end_step``: in each
  prunable tensor, the smallest-magnitude weights, ``s(t)`` of them, are masked (one
  threshold per tensor);
- only the kernels of Dense and Conv layers are prunable: biases, batch-norm parameters and
  depthwise kernels are left alone;
- the masks are applied again after every batch, so that the optimiser cannot regrow a
  pruned weight (its momentum would otherwise move it off zero).
"""

from __future__ import annotations

import keras
import numpy as np
from keras import layers

PRUNABLE_LAYERS = (layers.Dense, layers.Conv1D, layers.Conv2D, layers.Conv3D)


def polynomial_sparsity(step: int, begin_step: int, end_step: int, initial: float,
                        final: float, power: int = 3) -> float:
    """Target sparsity at ``step``: ``initial`` before ``begin_step``, ``final`` after
    ``end_step``, and ``final + (initial - final) * (1 - p) ** power`` in between."""
    if end_step <= begin_step:
        raise ValueError(f"end_step ({end_step}) must come after begin_step ({begin_step})")
    if not 0 <= initial <= final < 1:
        raise ValueError(f"need 0 <= initial <= final < 1, got {initial} and {final}")
    p = min(1.0, max(0.0, (step - begin_step) / (end_step - begin_step)))
    return final + (initial - final) * (1 - p) ** power


def prunable_weights(model: keras.Model) -> list:
    """The kernels of the model's Dense and Conv layers (not depthwise convolutions), in
    layer order, looking inside nested models."""
    found = []
    for layer in model.layers:
        if hasattr(layer, "layers"):  # a nested model
            found += prunable_weights(layer)
        elif isinstance(layer, PRUNABLE_LAYERS) and not isinstance(
                layer, (layers.DepthwiseConv1D, layers.DepthwiseConv2D)):
            found.append(layer.kernel)
    return found


def magnitude_mask(weights: np.ndarray, sparsity: float) -> np.ndarray:
    """1.0 for the weights kept, 0.0 for the ``round(sparsity * size)`` smallest in
    magnitude (ties broken by position, so exactly that many are masked)."""
    weights = np.asarray(weights)
    if not 0 <= sparsity < 1:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity}")
    k = int(round(sparsity * weights.size))
    mask = np.ones(weights.size, np.float32)
    mask[np.argsort(np.abs(weights).ravel(), kind="stable")[:k]] = 0.0
    return mask.reshape(weights.shape)


def sparsity(model: keras.Model) -> float:
    """The share of zeros among the prunable weights."""
    values = [np.asarray(w).ravel() for w in prunable_weights(model)]
    total = sum(v.size for v in values)
    return float(sum((v == 0).sum() for v in values) / total) if total else 0.0


class MagnitudePruning(keras.callbacks.Callback):
    """Prune a model while it trains, by :func:`polynomial_sparsity` and per-tensor
    magnitude masks (the tfmot rules in this module's docstring)."""

    def __init__(self, final_sparsity: float, begin_step: int, end_step: int,
                 frequency: int = 100, initial_sparsity: float = 0.0,
                 skip: tuple[str, ...] = ()) -> None:
        """``skip``: names of layers whose kernels stay dense (a first convolution of a
        few hundred weights, say, which carries every later layer's input)."""
        super().__init__()
        self.skip = tuple(skip)
        polynomial_sparsity(begin_step, begin_step, end_step, initial_sparsity,
                            final_sparsity)  # validates the arguments
        if frequency < 1:
            raise ValueError(f"frequency must be at least 1, got {frequency}")
        self.final, self.initial = final_sparsity, initial_sparsity
        self.begin, self.end, self.frequency = begin_step, end_step, frequency
        self.step = 0
        self.masks: list[np.ndarray] | None = None
        self.history: list[tuple[int, float]] = []  # (step, target sparsity) at each update

    def target(self, step: int) -> float:
        return polynomial_sparsity(step, self.begin, self.end, self.initial, self.final)

    def _update_masks(self) -> None:
        target = self.target(self.step)
        self.masks = [magnitude_mask(w.numpy(), target) for w in self.weights]
        self.history.append((self.step, target))

    def _apply(self) -> None:
        for w, m in zip(self.weights, self.masks):
            w.assign(w.numpy() * m)

    def on_train_begin(self, logs=None) -> None:
        kept = {self.model.get_layer(name).kernel.path for name in self.skip}
        self.weights = [w for w in prunable_weights(self.model) if w.path not in kept]
        if not self.weights:
            raise ValueError(f"{self.model.name} has no Dense or Conv kernels to prune")

    def on_train_batch_end(self, batch, logs=None) -> None:
        self.step += 1
        due = self.begin <= self.step <= self.end and \
            (self.step - self.begin) % self.frequency == 0
        if due or (self.masks is None and self.step >= self.begin):
            self._update_masks()
        if self.masks is not None:
            self._apply()


def prune_below(model: keras.Model, threshold: float) -> float:
    """The article's literal rule, once: set every prunable weight with magnitude below
    ``threshold`` to zero; returns the share zeroed."""
    for w in prunable_weights(model):
        values = w.numpy()
        w.assign(np.where(np.abs(values) < threshold, 0.0, values).astype(values.dtype))
    return sparsity(model)


class KeepZeros(keras.callbacks.Callback):
    """Fine-tune a pruned model without regrowing it: the weights that are zero when training
    begins are set to zero again after every batch."""

    def on_train_begin(self, logs=None) -> None:
        self.pairs = [(w, (w.numpy() != 0).astype(np.float32))
                      for w in prunable_weights(self.model)]

    def on_train_batch_end(self, batch, logs=None) -> None:
        for w, mask in self.pairs:
            w.assign(w.numpy() * mask)
