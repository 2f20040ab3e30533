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
# **Exercise 1.** `p` is the share of the way from begin to end, clamped to [0, 1] so that
# the schedule holds `initial` before the start and `final` after the end. The cubic makes
# pruning fast at first, when many weights are nearly useless, and gentle near the end.


# %%
def sparsity_schedule(
    step: int, begin_step: int, end_step: int, initial: float, final: float
) -> float:
    p = min(1.0, max(0.0, (step - begin_step) / (end_step - begin_step)))
    return final + (initial - final) * (1 - p) ** 3


check.sparsity_schedule(sparsity_schedule)

# %% [markdown]
# **Exercise 2.** Two fixes, both from the symptoms' diagnostics: `input_range` (scale to
# [0, 1]) and `output_and_loss` (a logits output needs `from_logits=True`). Recompiling
# keeps the layers and their weights.


# %%
def repair(images: np.ndarray, model: keras.Model) -> tuple[np.ndarray, keras.Model]:
    images = np.asarray(images, np.float32) / 255.0
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return images, model


check.repair(repair)

# %% [markdown]
# **Exercise 3.** `n / (k * count)`: a class with the average count gets weight 1, a class
# ten times rarer gets 10, and every class's weights sum to the same `n / k`. This is what
# `sklearn.utils.class_weight.compute_class_weight("balanced", ...)` computes.


# %%
def class_weights(labels: np.ndarray) -> dict[int, float]:
    classes, counts = np.unique(labels, return_counts=True)
    return {
        int(c): len(labels) / (len(classes) * int(n)) for c, n in zip(classes, counts)
    }


check.class_weights(class_weights)
