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
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 06 · Troubleshooting: solutions
#
# The exercises of chapter 06, solved, with strict checkers: a wrong answer raises.

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

tf = import_tensorflow()  # TensorFlow, without its C++ start-up log lines
import keras
import numpy as np

from mnist_course.course.checks.ch06 import strict_check as check

# %% tags=["parameters"]
PROFILE = "full"
SEED = 0

# %% tags=["nbval-ignore-output"]
PROFILE = active_profile(PROFILE)
seed_everything(SEED)
print(f"profile: {PROFILE}")

# %% [markdown]
# **Exercise 1.** The dense layers keep all their weights, so the zeros must all come from
# the others: with `P` the number of weights in prunable layers and `N` in all, the shared
# sparsity is `overall * N / P`. It exceeds 1 when `overall` is above `P / N`, the most the
# model can reach with its small layers dense.


# %%
def layer_sparsities(
    sizes: list[int], overall: float, protect_below: int
) -> list[float]:
    sizes = np.asarray(sizes, dtype=float)
    pruned = sizes >= protect_below
    reachable = sizes[pruned].sum() / sizes.sum()
    if overall > reachable:
        raise ValueError(
            f"with layers under {protect_below:,} weights dense, at most"
            f" {100 * reachable:.0f}% of the weights can be zeroed,"
            f" not {100 * overall:.0f}%"
        )
    shared = overall / reachable if overall else 0.0
    return [float(shared) if p else 0.0 for p in pruned]


check.layer_sparsities(layer_sparsities)

# %% [markdown]
# **Exercise 2.** Each fault has a sign that a healthy set-up lacks: pixels above 1.5;
# labels with two dimensions under a loss whose name says sparse; a last layer whose
# activation is not softmax under a loss without `from_logits`. Fix only what shows its
# sign: scaling healthy pixels again would shrink them to 1/255 of their range, and
# `argmax` of integer labels fails.


# %%
def repair(
    images: np.ndarray, labels: np.ndarray, model: keras.Model
) -> tuple[np.ndarray, np.ndarray, keras.Model]:
    images = np.asarray(images, np.float32)
    if images.max() > 1.5:
        images = images / 255.0
    if np.ndim(labels) == 2:  # one-hot: the sparse loss wants class indices
        labels = np.asarray(labels).argmax(axis=1)
    loss = model.loss
    outputs_logits = model.layers[-1].activation.__name__ != "softmax"
    if outputs_logits and not loss.get_config().get("from_logits", False):
        model.compile(
            optimizer=model.optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    return images, labels, model


check.repair(repair)

# %% [markdown]
# **Exercise 3.** Start from the balanced shape, `1 / count`; clip it at `cap` times its
# smallest value (the commonest class's, which the clipping never moves); then rescale
# all of them by one factor so that they average 1 over the images. Rescaling keeps the
# ratios, so the cap and the equal totals survive it.


# %%
def class_weights(labels: np.ndarray, cap: float) -> dict[int, float]:
    classes, counts = np.unique(labels, return_counts=True)
    shape = np.minimum(1 / counts, cap / counts.max())
    shape *= len(labels) / (counts * shape).sum()
    return {int(c): float(w) for c, w in zip(classes, shape)}


check.class_weights(class_weights)
