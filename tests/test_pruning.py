"""The Keras 3 pruning callback: its schedule, its masks, and that pruned weights stay zero."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from mnist_course import pruning


def test_schedule_values_at_begin_middle_and_end():
    s = lambda step: pruning.polynomial_sparsity(step, 100, 300, 0.0, 0.8)  # noqa: E731
    assert s(0) == 0.0 and s(100) == 0.0
    assert s(200) == pytest.approx(0.8 + (0.0 - 0.8) * 0.5**3)  # = 0.7
    assert s(300) == pytest.approx(0.8) and s(1000) == pytest.approx(0.8)
    values = [s(t) for t in range(100, 301, 10)]
    assert all(b >= a for a, b in zip(values, values[1:]))  # never decreases
    with pytest.raises(ValueError, match="end_step"):
        pruning.polynomial_sparsity(0, 10, 10, 0.0, 0.5)
    with pytest.raises(ValueError, match="initial"):
        pruning.polynomial_sparsity(0, 0, 10, 0.6, 0.5)


def test_magnitude_mask_keeps_exactly_the_scheduled_share():
    w = np.random.default_rng(0).normal(size=(30, 20))
    for share in (0.0, 0.5, 0.75, 0.9, 0.95):
        mask = pruning.magnitude_mask(w, share)
        assert (mask == 0).sum() == round(share * w.size)
        if 0 < share:
            assert np.abs(w[mask == 0]).max() <= np.abs(w[mask == 1]).min()
    ties = pruning.magnitude_mask(np.zeros(10), 0.3)  # all equal: still exactly 3
    assert (ties == 0).sum() == 3


def small_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((8, 8, 1)),
        layers.Conv2D(4, 3, name="conv"), layers.BatchNormalization(name="bn"),
        layers.DepthwiseConv2D(3, name="depthwise"), layers.Flatten(),
        layers.Dense(10, name="dense")])


def test_only_dense_and_conv_kernels_are_prunable():
    model = small_model()
    names = [w.path for w in pruning.prunable_weights(model)]
    assert [n.split("/")[-2:] for n in names] == [["conv", "kernel"], ["dense", "kernel"]]


def test_callback_prunes_to_schedule_and_pruned_weights_stay_zero():
    model = small_model()
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x, y = rng.random((320, 8, 8, 1)).astype("float32"), rng.integers(0, 10, 320)
    untouched = {w.path: w.numpy().copy() for w in model.weights
                 if "bias" in w.path or "bn" in w.path or "depthwise" in w.path}
    callback = pruning.MagnitudePruning(0.75, begin_step=2, end_step=12, frequency=2)
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[callback])  # 20 steps
    for w in pruning.prunable_weights(model):
        assert (w.numpy() == 0).sum() == round(0.75 * w.numpy().size)  # exactly, per tensor
    assert callback.history[0] == (2, 0.0) and callback.history[-1][1] == pytest.approx(0.75)
    assert all(step % 2 == 0 and 2 <= step <= 12 for step, _ in callback.history)
    # biases, batch norm and the depthwise kernel were not pruned
    for w in model.weights:
        if w.path in untouched and "moving" not in w.path:
            assert (w.numpy() != 0).all()
    # after end_step the masks stay: more training does not regrow any pruned weight
    zeros = [w.numpy() == 0 for w in pruning.prunable_weights(model)]
    model.fit(x, y, batch_size=32, epochs=1, verbose=0, callbacks=[callback])
    for w, z in zip(pruning.prunable_weights(model), zeros):
        assert (w.numpy()[z] == 0).all()
    # without the callback, Adam's momentum would move them off zero
    model.fit(x, y, batch_size=32, epochs=1, verbose=0)
    assert any((w.numpy()[z] != 0).any() for w, z in zip(pruning.prunable_weights(model), zeros))


def test_prune_below_and_keep_zeros():
    model = small_model()
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(True))
    share = pruning.prune_below(model, 0.1)
    expected = np.mean(np.concatenate([np.abs(w.numpy()).ravel() < 0.1
                                       for w in pruning.prunable_weights(model)]))
    assert 0 < share == pytest.approx(expected) == pytest.approx(pruning.sparsity(model))
    rng = np.random.default_rng(1)
    x, y = rng.random((64, 8, 8, 1)).astype("float32"), rng.integers(0, 10, 64)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[pruning.KeepZeros()])
    assert pruning.sparsity(model) >= share


def test_magnitude_pruning_leaves_the_layers_it_is_told_to_skip_dense():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((8, 8, 1)), layers.Conv2D(4, 3, name="first"),
                              layers.Flatten(), layers.Dense(10, name="head")])
    model.compile(optimizer="adam",
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(0)
    x, y = rng.random((64, 8, 8, 1)).astype("float32"), rng.integers(0, 10, 64)
    callback = pruning.MagnitudePruning(0.8, 0, 2, frequency=1, skip=("first",))
    model.fit(x, y, batch_size=32, epochs=2, verbose=0, callbacks=[callback])
    assert (model.get_layer("first").kernel.numpy() != 0).all()
    head = model.get_layer("head").kernel.numpy()
    assert (head == 0).sum() == round(0.8 * head.size)
