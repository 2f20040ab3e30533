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
# # 07c · Multimodal fusion: solutions
#
# The exercises of chapter 07c, solved, with strict checkers: a wrong answer raises.

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
import numpy as np
from scipy import stats

from mnist_course.course.checks.ch07c import strict_check as check

# %% tags=["parameters"]
PROFILE = "full"
SEED = 0

# %% tags=["nbval-ignore-output"]
PROFILE = active_profile(PROFILE)
seed_everything(SEED)
print(f"profile: {PROFILE}")

# %% [markdown]
# **Exercise 1.** Check the weight first, then one line: both arrays are `(n, 10)` and every
# row of each sums to 1, so every row of the weighted mean does too.


# %%
def late_fusion(
    p_image: np.ndarray, p_sequence: np.ndarray, weight: float
) -> np.ndarray:
    if not 0 <= weight <= 1:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    return weight * np.asarray(p_image) + (1 - weight) * np.asarray(p_sequence)


check.late_fusion(late_fusion)

# %% [markdown]
# **Exercise 2.** Two independent draws per example: one decides whether it loses a
# modality (probability `rate`), the other which one (a fair coin). Blanking through boolean
# masks on copies leaves the inputs untouched and never blanks both.


# %%
def modality_dropout(
    images: np.ndarray, sequences: np.ndarray, rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    images, sequences = np.array(images, copy=True), np.array(sequences, copy=True)
    dropped = rng.random(len(images)) < rate
    lose_image = rng.random(len(images)) < 0.5
    images[dropped & lose_image] = 0
    sequences[dropped & ~lose_image] = 0
    return images, sequences


check.modality_dropout(modality_dropout)

# %% [markdown]
# **Exercise 3.** The course's policy: a gain counts only when the whole 95% t-interval of
# the paired differences lies above zero, so a noisy, small positive mean does not count.


# %%
def first_level_without_gain(levels, fused: np.ndarray, alone: np.ndarray):
    diff = np.asarray(fused, float) - np.asarray(alone, float)
    for level, d in zip(levels, diff.T):
        low, _ = stats.t.interval(0.95, len(d) - 1, loc=d.mean(), scale=stats.sem(d))
        if not low > 0:
            return level
    return None


check.first_level_without_gain(first_level_without_gain)
