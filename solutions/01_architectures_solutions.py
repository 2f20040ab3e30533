# ---
# jupyter:
#   jupytext:
#     cell_metadata_filter: tags,-all
#     formats: ipynb,py:percent
#     notebook_metadata_filter: kernelspec,jupytext,-all
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.6
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 01 · Architectures: solutions
#
# The exercises of chapter 01, solved, with strict checkers: a wrong answer raises.

# %%
# Colab set-up: on Google Colab, fetch this course; anywhere else, do nothing.
import sys

if "google.colab" in sys.modules:
    url = "https://github.com/mnist-course/mnist-course"
    # !git clone --quiet --depth 1 --branch main $url /content/mnist-course
    # %pip install --quiet -e /content/mnist-course
    sys.path.insert(0, "/content/mnist-course")  # no restart needed
    # %cd /content/mnist-course/solutions

# %%
from mnist_course.course.profile import (
    active_profile,
    import_tensorflow,
    seed_everything,
)

import_tensorflow()  # before keras: keeps TensorFlow's C++ start-up log lines out
import keras
from keras import layers

from mnist_course.course.checks.ch01 import strict_check as check

# %% tags=["parameters"]
PROFILE = "full"
SEED = 0

# %% tags=["nbval-ignore-output"]
PROFILE = active_profile(PROFILE)
seed_everything(SEED)
print(f"profile: {PROFILE}")

# %% [markdown]
# **Exercise 1.** Depthwise: one k x k filter per input channel plus one bias each.
# Pointwise: a 1x1 convolution, `c_in` weights per output channel plus one bias each.


# %%
def separable_params(k: int, c_in: int, c_out: int) -> int:
    depthwise = k * k * c_in + c_in
    pointwise = c_in * c_out + c_out
    return depthwise + pointwise


check.separable_params(separable_params)
standard = 3 * 3 * 256 * 256 + 256
print(
    f"k=3, 256->256: separable {separable_params(3, 256, 256):,} vs standard"
    f" {standard:,} ({standard / separable_params(3, 256, 256):.1f}x fewer)"
)

# %% [markdown]
# **Exercise 2.** Squeeze with global average pooling, excite with a bottleneck of
# `max(4, C // ratio)` units and a sigmoid, reshape to `(1, 1, C)` and let broadcasting scale
# every position of each channel by the same weight.


# %%
def my_se_block(x, ratio: int = 16):
    channels = x.shape[-1]
    s = layers.GlobalAveragePooling2D()(x)
    s = layers.Dense(max(4, channels // ratio), activation="relu")(s)
    s = layers.Dense(channels, activation="sigmoid")(s)
    s = layers.Reshape((1, 1, channels))(s)
    return layers.Multiply()([x, s])


check.se_block(my_se_block)

# %% [markdown]
# **Exercise 3.** Two things close the gap of a plain small CNN: batch normalisation (it lets
# the short training take large steps) and a third convolution stage, which costs few
# parameters at 7x7 while shrinking the dense layer's input to 3x3. The chapter's
# `compact_cnn` has that shape; written out by hand with narrower stages, it fits the budget
# (the checker refuses `models.compact_cnn` itself: the exercise is to design the model).


# %% tags=["nbval-ignore-output"]
def budget_model() -> keras.Model:
    inputs = keras.Input((28, 28, 1))
    x = inputs
    for filters in (12, 24, 48):
        x = layers.Conv2D(filters, 3, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization(momentum=0.9)(x)  # settles within a short run
        x = layers.ReLU()(x)
        x = layers.MaxPooling2D(2)(x)
    x = layers.Dropout(0.3)(layers.Flatten()(x))
    return keras.Model(inputs, layers.Dense(10)(x), name="budget_cnn")


print(f"{budget_model().count_params():,} parameters")
check.budget_model(budget_model)
