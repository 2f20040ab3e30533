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
# # 07b · Continual learning: solutions
#
# The exercises of chapter 07b, solved, with strict checkers: a wrong answer raises.

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

from mnist_course.course.checks.ch07b import strict_check as check

# %% tags=["parameters"]
PROFILE = "full"
SEED = 0

# %% tags=["nbval-ignore-output"]
PROFILE = active_profile(PROFILE)
seed_everything(SEED)
print(f"profile: {PROFILE}")

# %% [markdown]
# **Exercise 1.** The best accuracy of each old task before the end is the column maximum
# over every row but the last; its final accuracy is the last row. Leave the last task out:
# it has just been learned and cannot have been forgotten.


# %%
def forgetting(R: np.ndarray) -> float:
    R = np.asarray(R, float)
    if len(R) == 1:
        return 0.0
    return float((R[:-1, :-1].max(axis=0) - R[-1, :-1]).mean())


check.forgetting(forgetting)

# %% [markdown]
# **Exercise 2.** One term per tensor, summed; the strength and the one half outside. With
# TensorFlow tensors the same line works inside a `tf.function` (the chapter's
# `continual.ewc_penalty` is this, with `tf.reduce_sum`).


# %%
def ewc_penalty(weights: list, anchors: list, fisher: list, lam: float) -> float:
    return (
        lam
        / 2
        * sum(
            float(np.sum(f * (np.asarray(w) - np.asarray(a)) ** 2))
            for w, a, f in zip(weights, anchors, fisher)
        )
    )


check.ewc_penalty(ewc_penalty)

# %% [markdown]
# **Exercise 3.** For each label, its examples' indices; a random choice of at most
# `per_class` of them without replacement, with the generator given (so the same seed keeps
# the same examples).


# %%
def balanced_keep(
    labels: np.ndarray, per_class: int, rng: np.random.Generator
) -> np.ndarray:
    labels = np.asarray(labels)
    kept = [
        rng.choice(
            np.flatnonzero(labels == c),
            size=min(per_class, int((labels == c).sum())),
            replace=False,
        )
        for c in np.unique(labels)
    ]
    return np.sort(np.concatenate(kept))


check.balanced_keep(balanced_keep)
