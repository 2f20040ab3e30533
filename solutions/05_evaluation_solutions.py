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
# # 05 · Evaluation: solutions
#
# The exercises of chapter 05, solved, with strict checkers: a wrong answer raises.

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
from scipy.optimize import minimize_scalar

from mnist_course.course.checks.ch05 import strict_check as check

# %% tags=["parameters"]
PROFILE = "full"
SEED = 0

# %% tags=["nbval-ignore-output"]
PROFILE = active_profile(PROFILE)
seed_everything(SEED)
print(f"profile: {PROFILE}")

# %% [markdown]
# **Exercise 1.** The bin of a confidence c is `ceil(c * bins) - 1`, so bin b holds
# (b/bins, (b+1)/bins] and a confidence of exactly 1 lands in the last bin. Each non-empty
# bin adds its share of the predictions times its gap between accuracy and mean confidence.


# %%
def ece(probabilities: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    total = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            total += in_bin.mean() * abs(
                correct[in_bin].mean() - confidence[in_bin].mean()
            )
    return float(total)


check.ece(ece)

# %% [markdown]
# **Exercise 2.** A scratch across the digit: a white horizontal line, 2 pixels thick, at a
# row drawn from the seed's generator. The input arrays are copied, never changed, and the
# labels go back as they came.


# %%
def my_corruption(images: np.ndarray, labels: np.ndarray, seed: int):
    rng = np.random.default_rng(seed)
    out = images.copy()
    rows = rng.integers(6, 21, len(images))
    for i, row in enumerate(rows):
        out[i, row : row + 2, 3:25] = 255
    return out, labels


check.corruption(my_corruption)

# %% [markdown]
# **Exercise 3.** The negative log-likelihood of the labels under `softmax(logits / T)`,
# minimised over log T (so T stays positive) with a bounded scalar search.


# %%
def fit_temperature(val_logits: np.ndarray, val_labels: np.ndarray) -> float:
    def nll(log_t: float) -> float:
        z = val_logits / np.exp(log_t)
        z = z - z.max(axis=1, keepdims=True)
        log_p = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
        return float(-log_p[np.arange(len(z)), val_labels].mean())

    return float(np.exp(minimize_scalar(nll, bounds=(-3, 3), method="bounded").x))


check.temperature(fit_temperature)
