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
# # 03 · Augmentation and adversarial robustness: solutions
#
# The exercises of chapter 03, solved, with strict checkers: a wrong answer raises.

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

from mnist_course import data, robustness
from mnist_course.course.checks.ch03 import GRADIENT_MARGIN
from mnist_course.course.checks.ch03 import strict_check as check
from mnist_course.course.checks.core import probe_lenet

# %% tags=["parameters"]
PROFILE = "full"
SEED = 0

# %% tags=["nbval-ignore-output"]
PROFILE = active_profile(PROFILE)
seed_everything(SEED)
print(f"profile: {PROFILE}")

# %% [markdown]
# **Exercise 1.** The gradient of the cross-entropy on the logits, as FGSM takes it; then,
# instead of its sign, the gradient itself, divided image by image by its own L2 norm
# (over the image's pixels, not the batch's), so that each image moves by a length of
# `epsilon`; clipped to [0, 1], which can only shorten the step.


# %%
def my_fgm_l2(
    model, images: np.ndarray, labels: np.ndarray, epsilon: float
) -> np.ndarray:
    x = tf.convert_to_tensor(images, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        logits = model(x, training=False)
        loss = keras.losses.sparse_categorical_crossentropy(
            labels, logits, from_logits=True
        )
    gradient = tape.gradient(loss, x)
    norm = tf.sqrt(tf.reduce_sum(gradient**2, axis=[1, 2, 3], keepdims=True))
    step = gradient / tf.maximum(norm, 1e-12)
    return tf.clip_by_value(x + epsilon * step, 0.0, 1.0).numpy()


check.fgm_l2(my_fgm_l2)

# %% [markdown]
# **Exercise 2.** A layer with a `training` argument; for each image draw whether to erase,
# the rectangle's size (up to half the side) and its corner, and multiply by a mask.


# %%
class RandomErasing(keras.layers.Layer):
    def __init__(self, probability: float = 0.5, seed: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.probability = probability
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training:
            return images
        n, h, w = tf.shape(images)[0], images.shape[1], images.shape[2]
        draw = keras.random.uniform((n, 5), seed=self.generator)
        erase = draw[:, 0] < self.probability
        size_h = tf.cast(1 + draw[:, 1] * (h // 2 - 1), tf.int32)
        size_w = tf.cast(1 + draw[:, 2] * (w // 2 - 1), tf.int32)
        top = tf.cast(draw[:, 3] * tf.cast(h - size_h, tf.float32), tf.int32)
        left = tf.cast(draw[:, 4] * tf.cast(w - size_w, tf.float32), tf.int32)
        rows, cols = tf.range(h)[None, :, None], tf.range(w)[None, None, :]
        inside = (
            (rows >= top[:, None, None])
            & (rows < (top + size_h)[:, None, None])
            & (cols >= left[:, None, None])
            & (cols < (left + size_w)[:, None, None])
        )
        mask = tf.cast(~(inside & erase[:, None, None]), images.dtype)[..., None]
        return images * mask


def make_random_erasing(probability: float = 0.5) -> keras.layers.Layer:
    return RandomErasing(probability)


check.random_erasing(make_random_erasing)

# %% [markdown]
# **Exercise 3.** PGD at epsilon 0.1, the attack that does not fall for gradient masking; the
# accuracy is computed on the very images returned. The control spends the same budget at
# random: a fair coin per pixel for +0.1 or -0.1.


# %% tags=["nbval-ignore-output"]
def score(model, images: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(model.predict(images, verbose=0).argmax(-1) == labels))


def attack_and_score(model, images: np.ndarray, labels: np.ndarray):
    perturbed = robustness.pgd(model, images, labels, epsilon=0.1, steps=10, seed=0)
    return score(model, perturbed, labels), perturbed


def random_and_score(model, images: np.ndarray, labels: np.ndarray):
    signs = np.random.default_rng(SEED).choice([-1.0, 1.0], size=images.shape)
    perturbed = np.clip(images + 0.1 * signs, 0.0, 1.0).astype(np.float32)
    return score(model, perturbed, labels), perturbed


model, split = probe_lenet(5000, epochs=2)
x, y = data.to_model_input(split.x_test[:500]), split.y_test[:500]
measured = {
    "clean": score(model, x, y),
    "PGD": attack_and_score(model, x, y)[0],
    "random": random_and_score(model, x, y)[0],
}
print(", ".join(f"{name}: {acc:.1%}" for name, acc in measured.items()))
GRADIENT_DOES_IT = (measured["random"] - measured["PGD"]) * 100 >= GRADIENT_MARGIN
print(
    f"PGD costs {(measured['random'] - measured['PGD']) * 100:.1f} points more than"
    f" random noise of the same budget: GRADIENT_DOES_IT = {GRADIENT_DOES_IT}."
)

check.attack_evaluation(attack_and_score, random_and_score, GRADIENT_DOES_IT)

# %% [markdown]
# What it says about the model (the numbers are printed above): perturbations of the same
# size cost the undefended LeNet-5 very different amounts of accuracy depending on their
# direction. Spent at random, the budget barely matters; spent along the gradient, it
# flips most decisions. The model is not fragile to noise in general, but it has
# directions, found by its own gradient, in which its decisions lie very close to the
# digits: that is what adversarial training (chapter 03) pushes away.
