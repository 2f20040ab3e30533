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
# # 00 · Setup and data: solutions
#
# The exercises of chapter 00, solved. Here the checkers are strict: a wrong answer raises, so
# `pytest --nbval solutions/` fails if a solution stops being right.

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
import matplotlib.pyplot as plt
import numpy as np

from mnist_course import data
from mnist_course.course.checks.ch00 import strict_check as check
from mnist_course.course.profile import active_profile
from mnist_course.plots import image_grid

# %% tags=["parameters"]
PROFILE = "full"
SEED = 0

# %% tags=["nbval-ignore-output"]
PROFILE = active_profile(PROFILE)
print(f"profile: {PROFILE}")

# %% [markdown]
# **Exercise 1.** `np.bincount` counts each non-negative integer; `minlength=10` keeps a zero for
# a digit that never occurs.


# %%
def count_classes(labels: np.ndarray) -> np.ndarray:
    return np.bincount(labels, minlength=10)


check.count_classes(count_classes)

# %% [markdown]
# **Exercise 2.** Three decisions: a single image gets a batch axis first; the pixels
# become float32 *before* any arithmetic (uint8 divided by a Python number would give
# float64, and uint8 minus a number can wrap); and the channel axis Keras's `Conv2D`
# expects goes last. `astype` makes a copy, so the caller's array is never touched.


# %%
def standardise(images: np.ndarray, mean: float, std: float) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim == 2:  # one image: a batch of one
        images = images[np.newaxis]
    scaled = images.astype(np.float32) / np.float32(255)
    out = (scaled - np.float32(mean)) / np.float32(std)
    return out[..., np.newaxis]


check.standardise(standardise)

# %% [markdown]
# With MNIST's own statistics, the background (pixel 0) becomes `-mean / std`: negative,
# because the mean is above 0, and large, because most pixels are background and the
# spread is set by the few ink pixels. The standardised training set has mean 0 and
# standard deviation 1, which the cell checks.

# %% tags=["nbval-ignore-output"]
mnist = data.load_mnist()
pixels = mnist.x_train.astype(np.float32) / 255.0
mean, std = float(pixels.mean()), float(pixels.std())
standardised = standardise(mnist.x_train, mean, std)
print(
    f"mean {mean:.4f}, std {std:.4f}: background becomes {-mean / std:.3f}, full ink"
    f" {(1 - mean) / std:.3f}; standardised training set: mean"
    f" {standardised.mean():.4f}, std {standardised.std():.4f}"
)
assert abs(standardised.mean()) < 1e-3 and abs(standardised.std() - 1) < 1e-3

# %% [markdown]
# **Exercise 3.** Average in floating point. The mean images show each digit's typical shape;
# the pairs whose means overlap most are the ones models confuse.


# %%
def class_means(images: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.stack([images[labels == d].mean(axis=0) for d in range(10)])


check.class_means(class_means)

# %%
means = class_means(mnist.x_train, mnist.y_train)
image_grid(means, [str(d) for d in range(10)], ncols=10)
plt.show()
flat = means.reshape(10, -1) / 255.0
distance = np.linalg.norm(flat[:, None] - flat[None, :], axis=-1)
np.fill_diagonal(distance, np.inf)
pairs = sorted(
    {tuple(sorted((i, int(distance[i].argmin())))) for i in range(10)},
    key=lambda p: distance[p],
)
print(
    "closest pairs of mean images:",
    ", ".join(f"{a}-{b} ({distance[a, b]:.2f})" for a, b in pairs[:3]),
)
