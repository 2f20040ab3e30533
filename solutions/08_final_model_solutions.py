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
# # 08 · The final model: solutions
#
# The exercises of chapter 08, solved, with strict checkers: a wrong answer raises.

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
import math

from mnist_course.course.profile import (
    active_profile,
    import_tensorflow,
    seed_everything,
)

tf = import_tensorflow()  # TensorFlow, without its C++ start-up log lines
import numpy as np
from scipy import stats

from mnist_course.course.checks.ch08 import strict_check as check

# %% tags=["parameters"]
PROFILE = "full"
SEED = 0

# %% tags=["nbval-ignore-output"]
PROFILE = active_profile(PROFILE)
seed_everything(SEED)
print(f"profile: {PROFILE}")

# %% [markdown]
# **Exercise 1.** Two pieces joined at `warmup_steps`. The warm-up is the straight line
# `peak * step / warmup_steps`. The cosine part measures its progress `p` from the end of
# the warm-up, over the `total_steps - warmup_steps` steps left, and is
# `peak * (1 + cos(pi * p)) / 2`: `peak` at p = 0, 0 at p = 1. Clipping `p` at 1 keeps the
# rate at 0 after the end.


# %%
def warmup_cosine(step: int, peak: float, warmup_steps: int, total_steps: int) -> float:
    if step < warmup_steps:
        return peak * step / warmup_steps
    p = min(1.0, (step - warmup_steps) / (total_steps - warmup_steps))
    return peak * 0.5 * (1 + math.cos(math.pi * p))


check.warmup_cosine(warmup_cosine)

# %% [markdown]
# **Exercise 2.** Keras mixes the one-hot target with the uniform distribution:
# `(1 - s) * one_hot + s / classes`. With s = 0.1 and 10 classes the true digit gets
# 0.9 + 0.01 = 0.91 and every other 0.01, the numbers the chapter gives; each row still
# sums to 1.


# %%
def smoothed_targets(labels: np.ndarray, classes: int, smoothing: float) -> np.ndarray:
    one_hot = np.eye(classes)[labels]
    return (1 - smoothing) * one_hot + smoothing / classes


check.smoothed_targets(smoothed_targets)

# %% [markdown]
# **Exercise 3.** Digits both models get right, or both get wrong, say nothing about which
# is better. Of the `n` digits on which they disagree, model A is the one that is right on
# `k`; if the models are equally good, `k` is binomial with `n` trials and probability 1/2.
# The exact two-sided p-value is that binomial test's; with no disagreement at all, there is
# no evidence of a difference, p = 1.


# %%
def mcnemar_p(right_a: np.ndarray, right_b: np.ndarray) -> float:
    right_a, right_b = np.asarray(right_a, bool), np.asarray(right_b, bool)
    only_a = int(np.sum(right_a & ~right_b))
    disagree = only_a + int(np.sum(right_b & ~right_a))
    if disagree == 0:
        return 1.0
    return float(stats.binomtest(only_a, disagree, 0.5).pvalue)


check.mcnemar_p(mcnemar_p)
