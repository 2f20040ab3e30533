"""Model builders: parameter counts pinned, output shapes, the SE block and its floor."""

import keras
import numpy as np
import pytest

from mnist_course import models


@pytest.mark.parametrize("build,params", [
    (models.lenet5, 61_706),
    (models.lenet5_separable, 59_558),
    (models.compact_cnn, 29_402),
    (lambda: models.compact_cnn(separable=True), 9_546),
    (lambda: models.compact_cnn(se=True), 30_274),
    (lambda: models.compact_cnn(separable=True, se=True), 10_418),
])
def test_parameter_counts_and_output_shape(build, params):
    model = build()
    assert model.count_params() == params
    assert tuple(model.compute_output_shape((3, 28, 28, 1))) == (3, 10)
    out = model(np.zeros((2, 28, 28, 1), np.float32), training=False)
    assert out.shape == (2, 10)


def test_lenet5_layers_follow_the_formulas():
    counts = {layer.name: layer.count_params() for layer in models.lenet5().layers}
    assert counts["c1"] == 5 * 5 * 1 * 6 + 6
    assert counts["c3"] == 5 * 5 * 6 * 16 + 16
    assert counts["c5"] == 400 * 120 + 120
    assert counts["f6"] == 120 * 84 + 84
    assert counts["logits"] == 84 * 10 + 10


@pytest.mark.parametrize("k,c_in,c_out", [(3, 32, 64), (5, 6, 16), (3, 1, 8)])
def test_separable_conv_parameters(k, c_in, c_out):
    inputs = keras.Input((12, 12, c_in))
    model = keras.Model(inputs, models.separable_conv(inputs, c_out, k, name="b"))
    assert model.count_params() == (k * k * c_in + c_in) + (c_in * c_out + c_out)
    assert model.output.shape[1:] == (12, 12, c_out)


@pytest.mark.parametrize("channels,ratio,floor,units", [
    (256, 16, 4, 16), (64, 16, 4, 4), (32, 16, 4, 4), (6, 16, 4, 4), (2, 16, 4, 2),
    (256, 8, 4, 32), (32, 16, 1, 2), (1, 16, 4, 1),
])
def test_se_units_floor(channels, ratio, floor, units):
    assert models.se_units(channels, ratio, floor) == units


def test_se_block_rescales_each_channel():
    inputs = keras.Input((5, 5, 64))
    model = keras.Model(inputs, models.se_block(inputs, ratio=16))
    assert model.output.shape[1:] == (5, 5, 64)
    assert model.count_params() == 64 * 4 + 4 + 4 * 64 + 64
    x = np.random.default_rng(0).uniform(0.5, 1.5, (2, 5, 5, 64)).astype(np.float32)
    gate = np.asarray(model(x)) / x
    assert np.allclose(gate, gate[:, :1, :1, :], atol=1e-5)  # one weight per channel
    assert np.all((gate > 0) & (gate < 1))


def test_count_macs_by_hand():
    lenet = 28 * 28 * 25 * 6 + 10 * 10 * 25 * 6 * 16 + 400 * 120 + 120 * 84 + 84 * 10
    assert models.count_macs(models.lenet5()) == lenet
    sep = 28 * 28 * 25 * 6 + 10 * 10 * 25 * 6 + 10 * 10 * 6 * 16 + 400 * 120 + 120 * 84 + 840
    assert models.count_macs(models.lenet5_separable()) == sep
    assert models.count_macs(models.compact_cnn(separable=True)) < models.count_macs(
        models.compact_cnn()) / 5
