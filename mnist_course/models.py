"""Model builders: LeNet-5, its depthwise-separable twin, the squeeze-excitation block, and
the course's compact CNN (the "main" model later chapters train, tune, quantise and serve).

Every builder returns an uncompiled ``keras.Model`` taking float32 images ``(28, 28, 1)`` in
[0, 1] and returning logits for the ten digits (no softmax: losses use ``from_logits=True``).
"""

from __future__ import annotations

import keras
from keras import layers

INPUT_SHAPE = (28, 28, 1)
#: Keras's default (0.99) leaves the running statistics far from the data's after the few
#: hundred steps of a short run, and inference then fails; 0.9 settles within ~50 steps.
BN_MOMENTUM = 0.9


def lenet5(name: str = "lenet5") -> keras.Model:
    """LeNet-5 as in LeCun et al. (1998), on 28x28 inputs, 61,706 parameters.

    The variant: C1 is a 5x5 convolution with 'same' padding (the paper padded 28x28 digits
    to 32x32 instead, which gives the same 28x28x6 maps), 2x2 average pooling for the
    subsampling layers S2 and S4, ReLU instead of the scaled tanh, a full C3 (every map sees
    all six inputs, not the paper's sparse table), and dense layers of 120, 84 and 10 units.
    """
    return keras.Sequential([
        keras.Input(INPUT_SHAPE),
        layers.Conv2D(6, 5, padding="same", activation="relu", name="c1"),
        layers.AveragePooling2D(2, name="s2"),
        layers.Conv2D(16, 5, activation="relu", name="c3"),
        layers.AveragePooling2D(2, name="s4"),
        layers.Flatten(),
        layers.Dense(120, activation="relu", name="c5"),
        layers.Dense(84, activation="relu", name="f6"),
        layers.Dense(10, name="logits"),
    ], name=name)


def separable_conv(x, filters: int, kernel_size: int, name: str, padding: str = "same"):
    """MobileNetV1 block: depthwise k x k (one filter per channel), then a 1x1 pointwise mix.

    Parameters: ``k*k*C_in + C_in`` (depthwise, with bias) + ``C_in*C_out + C_out``
    (pointwise), against ``k*k*C_in*C_out + C_out`` for a standard convolution.
    """
    x = layers.DepthwiseConv2D(kernel_size, padding=padding, activation="relu",
                               name=f"{name}_dw")(x)
    return layers.Conv2D(filters, 1, activation="relu", name=f"{name}_pw")(x)


def lenet5_separable(name: str = "lenet5_separable") -> keras.Model:
    """LeNet-5 with its C3 convolution replaced by a depthwise-separable block.

    C1 stays a standard convolution: on a one-channel input a depthwise layer cannot mix
    channels, so there is nothing to save.
    """
    inputs = keras.Input(INPUT_SHAPE)
    x = layers.Conv2D(6, 5, padding="same", activation="relu", name="c1")(inputs)
    x = layers.AveragePooling2D(2, name="s2")(x)
    x = separable_conv(x, 16, 5, name="c3", padding="valid")
    x = layers.AveragePooling2D(2, name="s4")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(120, activation="relu", name="c5")(x)
    x = layers.Dense(84, activation="relu", name="f6")(x)
    return keras.Model(inputs, layers.Dense(10, name="logits")(x), name=name)


def se_units(channels: int, ratio: int = 16, floor: int = 4) -> int:
    """Width of an SE bottleneck: ``channels // ratio``, but at least ``floor`` (and at most
    ``channels``), so that narrow layers keep a useful bottleneck instead of one or zero units."""
    return max(1, min(channels, max(floor, channels // ratio)))


def se_block(x, ratio: int = 16, floor: int = 4, name: str = "se"):
    """Squeeze-and-excitation (Hu et al., 2018): reweight each channel by a learned gate.

    Squeeze: global average pooling to one number per channel. Excite: a bottleneck
    ``Dense(se_units, relu)`` then ``Dense(C, sigmoid)`` gives a weight in (0, 1) per channel,
    which multiplies the input feature map.
    """
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D(name=f"{name}_squeeze")(x)
    s = layers.Dense(se_units(channels, ratio, floor), activation="relu", name=f"{name}_reduce")(s)
    s = layers.Dense(channels, activation="sigmoid", name=f"{name}_expand")(s)
    s = layers.Reshape((1, 1, channels), name=f"{name}_reshape")(s)
    return layers.Multiply(name=f"{name}_scale")([x, s])


def _conv_bn(x, filters: int, separable: bool, name: str):
    if separable:
        x = layers.DepthwiseConv2D(3, padding="same", use_bias=False, name=f"{name}_dw")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_dw_bn")(x)
        x = layers.ReLU(name=f"{name}_dw_relu")(x)
        x = layers.Conv2D(filters, 1, use_bias=False, name=f"{name}_pw")(x)
    else:
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=name)(x)
    x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def compact_cnn(separable: bool = False, se: bool = False, widths: tuple[int, ...] = (16, 32, 64),
                dropout: float = 0.3, se_ratio: int = 16, name: str | None = None) -> keras.Model:
    """The course's main model: three 3x3 conv-BN-ReLU stages at 28, 14 and 7 pixels with max
    pooling after each, then dropout and a dense classifier on the flattened 3x3 maps.

    The first stage is always a standard convolution (one input channel); with
    ``separable=True`` the later stages are depthwise-separable; with ``se=True`` an SE block
    follows each later stage. Defaults: 29,402 parameters, about 1.9M multiply-accumulates.
    """
    name = name or "compact_cnn" + ("_separable" if separable else "") + ("_se" if se else "")
    inputs = keras.Input(INPUT_SHAPE)
    x = inputs
    for i, filters in enumerate(widths, start=1):
        x = _conv_bn(x, filters, separable and i > 1, name=f"conv{i}")
        if se and i > 1:
            x = se_block(x, ratio=se_ratio, name=f"se{i}")
        x = layers.MaxPooling2D(2, name=f"pool{i}")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, name="dropout")(x)
    return keras.Model(inputs, layers.Dense(10, name="logits")(x), name=name)


def count_macs(model: keras.Model) -> int:
    """Multiply-accumulates for one image, counted over Conv2D, DepthwiseConv2D and Dense
    layers (the rest, pooling, BN, activations and SE gating, is a rounding error)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += count_macs(layer)
            continue
        if isinstance(layer, layers.DepthwiseConv2D):
            _, h, w, c = layer.output.shape
            total += h * w * layer.kernel_size[0] * layer.kernel_size[1] * c
        elif isinstance(layer, layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            c_in = layer.input.shape[-1]
            total += h * w * layer.kernel_size[0] * layer.kernel_size[1] * c_in * c_out
        elif isinstance(layer, layers.Dense):
            total += layer.input.shape[-1] * layer.units
    return int(total)
