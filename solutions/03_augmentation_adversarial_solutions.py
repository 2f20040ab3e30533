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

from mnist_course import robustness
from mnist_course.course.checks.ch03 import strict_check as check

# %% tags=["parameters"]
PROFILE = "full"
SEED = 0

# %% tags=["nbval-ignore-output"]
PROFILE = active_profile(PROFILE)
seed_everything(SEED)
print(f"profile: {PROFILE}")

# %% [markdown]
# **Exercise 1.** The three things the article's snippet misses: a tensor to watch, the loss on
# logits, and clipping to the valid range.


# %%
def my_fgsm(
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
    return tf.clip_by_value(x + epsilon * tf.sign(gradient), 0.0, 1.0).numpy()


check.fgsm(my_fgsm)

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
# accuracy is computed on the very images returned.


# %% tags=["nbval-ignore-output"]
def attack_and_score(model, images: np.ndarray, labels: np.ndarray):
    perturbed = robustness.pgd(model, images, labels, epsilon=0.1, steps=10, seed=0)
    accuracy = float(np.mean(model.predict(perturbed, verbose=0).argmax(-1) == labels))
    return accuracy, perturbed


check.attack_evaluation(attack_and_score)

# %% [markdown]
# A LeNet-5 trained for two epochs without any defence keeps almost no accuracy at epsilon
# 0.1 under PGD: perturbations a person barely notices flip its decisions, which is why
# chapter 03 compares against an adversarially trained model.
