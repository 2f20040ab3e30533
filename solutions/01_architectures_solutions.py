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
# Nothing here asks Keras: the count follows from the shapes alone.


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
# **Exercise 2.** Two squeezes (global average and global maximum) through one pair of
# Dense layers: build each layer once and call it twice, so both squeezes share its
# weights. The second layer has no activation: the sigmoid comes after the sum, so the gate
# stays in (0, 1). The chapter's `se_block` is the special case with the maximum left out.


# %%
def my_channel_attention(x, ratio: int = 8):
    channels = x.shape[-1]
    reduce = layers.Dense(max(4, channels // ratio), activation="relu")
    expand = layers.Dense(channels)
    avg = expand(reduce(layers.GlobalAveragePooling2D()(x)))
    peak = expand(reduce(layers.GlobalMaxPooling2D()(x)))
    gate = layers.Activation("sigmoid")(layers.Add()([avg, peak]))
    return layers.Multiply()([x, layers.Reshape((1, 1, channels))(gate)])


check.channel_attention(my_channel_attention)
inputs = keras.Input((7, 7, 64))
shared = keras.Model(inputs, my_channel_attention(inputs, ratio=8)).count_params()
print(
    f"C = 64, ratio 8: {shared:,} parameters with one shared bottleneck; two separate"
    f" bottlenecks would need {2 * shared:,}, so sharing saves {shared:,}"
)

# %% [markdown]
# **Exercise 3.** Two of the chapter's ideas make a small CNN learn fast: batch
# normalisation (it lets the short training take large steps) and a third convolution
# stage, which costs few parameters at 7x7 while shrinking the dense layer's input to 3x3.
# The chapter's `compact_cnn` has that shape; written out by hand with narrower stages, it
# fits the budget (the checker refuses `models.compact_cnn` itself: the exercise is to
# design the model).


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
