"""Each diagnostic of chapter 06 on a broken and on a healthy set-up."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from keras import layers

from mnist_course import diagnostics

RNG = np.random.default_rng(0)
X = RNG.random((256, 8, 8, 1)).astype("float32")
Y = (X[:, :4].mean(axis=(1, 2, 3)) > X[:, 4:].mean(axis=(1, 2, 3))).astype(int)  # learnable


def model(output="softmax", from_logits=False, loss="sparse", lr=1e-2, bn=False):
    keras.utils.set_random_seed(0)
    stack = [keras.Input((8, 8, 1)), layers.Flatten(), layers.Dense(32, activation="relu")]
    if bn:
        stack.append(layers.BatchNormalization(momentum=0.999))
    stack.append(layers.Dense(2, activation=output))
    m = keras.Sequential(stack)
    loss_cls = (keras.losses.SparseCategoricalCrossentropy if loss == "sparse"
                else keras.losses.CategoricalCrossentropy)
    m.compile(optimizer=keras.optimizers.Adam(lr), loss=loss_cls(from_logits=from_logits),
              metrics=["accuracy"])
    return m


def test_input_range():
    assert diagnostics.input_range(X).ok
    broken = diagnostics.input_range(X * 255)
    assert not broken.ok and "255" in broken.message


def test_output_and_loss():
    assert diagnostics.output_and_loss(model("softmax", False)).ok
    assert diagnostics.output_and_loss(model(None, True)).ok
    assert "twice" in diagnostics.output_and_loss(model("softmax", True)).message
    assert not diagnostics.output_and_loss(model(None, False)).ok
    with pytest.raises(ValueError, match="not compiled"):
        diagnostics.output_and_loss(keras.Sequential([keras.Input((2,)), layers.Dense(2)]))


def test_label_format():
    assert diagnostics.label_format(Y, model()).ok
    assert not diagnostics.label_format(np.eye(2)[Y], model()).ok
    assert diagnostics.label_format(np.eye(2)[Y], model(loss="categorical")).ok
    assert "one-hot" in diagnostics.label_format(Y, model(loss="categorical")).message


def test_overfit_one_batch_leaves_the_model_alone():
    healthy = model()
    before = [w.copy() for w in healthy.get_weights()]
    assert diagnostics.overfit_one_batch(healthy, X, Y, steps=80).ok
    assert all(np.array_equal(a, b) for a, b in zip(before, healthy.get_weights()))
    assert not diagnostics.overfit_one_batch(model("softmax", True, lr=1e-5), X, Y, steps=20).ok
    with pytest.raises(ValueError, match="steps must be at least 1, got 0"):
        diagnostics.overfit_one_batch(healthy, X, Y, steps=0)


def test_learning_rate_range_flags_a_rate_that_diverges():
    ok, curve = diagnostics.learning_rate_range(model(None, True, lr=1e-3), X * 50, Y,
                                                rates=(1e-3, 1e-1, 1e1, 1e3))
    assert len(curve) == 4 and ok.ok
    too_high, _ = diagnostics.learning_rate_range(model(None, True, lr=1e3), X * 50, Y,
                                                  rates=(1e-3, 1e-1, 1e1, 1e3))
    assert not too_high.ok and "tenth" in too_high.message
    _, curve = diagnostics.learning_rate_range(model(None, True, lr=1e3), X * 50, Y,
                                               rates=(1e-3, 1e-1, 1e1, 1e3))
    lowest = min((loss, r) for r, loss in curve if np.isfinite(loss))[1]
    assert f"lowest at {lowest:g}" in too_high.message  # advice from the curve's minimum
    with pytest.raises(ValueError, match="rates is empty"):
        diagnostics.learning_rate_range(model(), X, Y, rates=())


def test_learning_rate_range_restarts_every_rate_from_the_same_state():
    """One compiled copy is reset between rates: each rate's loss is what a fresh copy with
    a fresh optimiser reaches, whatever rate ran before it."""
    _, curve = diagnostics.learning_rate_range(model(None, True, lr=1e-3), X, Y,
                                               rates=(1e1, 1e-2), steps=2, batch=32)
    for rate, loss in curve:
        fresh = model(None, True, lr=rate)  # the same seeded initial weights, a new Adam
        expected = fresh.fit(X[:64], Y[:64], batch_size=32, epochs=1, verbose=0).history["loss"]
        assert loss == pytest.approx(expected[-1], rel=1e-5)


def test_batchnorm_settled():
    unsettled = model(bn=True)  # momentum 0.999 and no training: moving stats are the init
    assert not diagnostics.batchnorm_settled(unsettled, X * 5 + 3).ok
    assert diagnostics.batchnorm_settled(model(), X).ok  # no batch norm at all
    settled = model(bn=True)
    for layer in settled.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = 0.0
    settled.fit(X * 5 + 3, Y, batch_size=256, epochs=1, verbose=0)
    settled(X * 5 + 3, training=True)  # momentum 0: the averages become these statistics
    assert diagnostics.batchnorm_settled(settled, X * 5 + 3).ok


def test_batchnorm_settled_leaves_the_moving_averages_as_they_were():
    unsettled = model(bn=True)
    before = [np.array(v) for v in unsettled.non_trainable_variables]
    diagnostics.batchnorm_settled(unsettled, X * 5 + 3)
    after = [np.array(v) for v in unsettled.non_trainable_variables]
    assert all(np.array_equal(a, b) for a, b in zip(before, after))


def test_leakage_and_validation_above_training():
    assert diagnostics.leakage(X[:100], X[100:]).ok
    leaked = diagnostics.leakage(X[:100], np.concatenate([X[100:], X[:7]]))
    assert not leaked.ok and leaked.message.startswith("7 images")
    assert diagnostics.validation_above_training({"accuracy": [0.9], "val_accuracy": [0.9]}).ok
    assert not diagnostics.validation_above_training(
        {"accuracy": [0.90], "val_accuracy": [0.95]}).ok
    with pytest.raises(ValueError, match="val_accuracy"):
        diagnostics.validation_above_training({"accuracy": [0.9]})
