"""Chapter 01's checkers: Keras's own count refused, and the channel-attention variant."""

import pytest

from mnist_course.course.checks import ch01


def right_separable(k, c_in, c_out):
    return k * k * c_in + c_in + c_in * c_out + c_out


def keras_count(k, c_in, c_out):
    import keras

    inputs = keras.Input((8, 8, c_in))
    x = keras.layers.DepthwiseConv2D(k)(inputs)
    return keras.Model(inputs, keras.layers.Conv2D(c_out, 1)(x)).count_params()


def test_separable_params_refuses_keras_count():
    assert ch01.check.separable_params(right_separable).passed
    refused = ch01.check.separable_params(keras_count)
    assert not refused.passed and "count_params" in refused.problems[0]
    with pytest.raises(AssertionError, match="separable_params"):
        ch01.strict_check.separable_params(keras_count)


def test_separable_params_sees_helpers_and_stubs_the_count():
    def helper(k, c_in, c_out):
        return keras_count(k, c_in, c_out)

    assert "count_params" in ch01.check.separable_params(helper).problems[0]
    import keras

    def hidden(k, c_in, c_out, _count=keras.layers.Layer.count_params):
        layer = keras.layers.Dense(3)
        layer.build((None, 2))
        return getattr(layer, "count" + "_params")()

    assert not ch01.check.separable_params(hidden).passed


def attention(x, ratio=16, shared=True, use_max=True, late_sigmoid=True):
    import keras
    from keras import layers

    channels = x.shape[-1]
    units = max(4, channels // ratio)
    reduce = layers.Dense(units, activation="relu")
    expand = layers.Dense(channels, activation=None if late_sigmoid else "sigmoid")
    avg = expand(reduce(layers.GlobalAveragePooling2D()(x)))
    if not use_max:
        total = avg
    else:
        if not shared:
            reduce = layers.Dense(units, activation="relu")
            expand = layers.Dense(channels, activation=None if late_sigmoid else "sigmoid")
        total = layers.Add()([avg, expand(reduce(layers.GlobalMaxPooling2D()(x)))])
    gate = layers.Activation("sigmoid")(total) if late_sigmoid else total
    gate = layers.Reshape((1, 1, channels))(gate)
    return keras.layers.Multiply()([x, gate])


def test_channel_attention_accepts_the_right_block():
    assert ch01.check.channel_attention(attention).passed
    assert ch01.strict_check.channel_attention(attention).passed


@pytest.mark.parametrize("kwargs,words", [
    ({"shared": False}, "two bottlenecks"),
    ({"use_max": False}, "ignores the maximum"),
    ({"late_sigmoid": False}, "(0, 1)"),
])
def test_channel_attention_explains_mistakes(kwargs, words):
    result = ch01.check.channel_attention(lambda x, ratio: attention(x, ratio, **kwargs))
    assert not result.passed and words in result.problems[0]


def test_channel_attention_refuses_se_and_wrong_ratio():
    from mnist_course import models

    assert not ch01.check.channel_attention(lambda x, ratio: models.se_block(x, ratio)).passed
    wrong_ratio = ch01.check.channel_attention(lambda x, ratio: attention(x, 16))
    assert not wrong_ratio.passed and "units" in wrong_ratio.problems[0]
