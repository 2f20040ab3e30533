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
# # 04a · TFLite conversion and quantisation: solutions
#
# The exercises of chapter 04a, solved, with strict checkers: a wrong answer raises.

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
import tempfile
import time

import numpy as np

from mnist_course import export, models
from mnist_course.course.checks.ch04a import strict_check as check

# %% tags=["parameters"]
PROFILE = "full"
SEED = 0

# %% tags=["nbval-ignore-output"]
PROFILE = active_profile(PROFILE)
seed_everything(SEED)
print(f"profile: {PROFILE}")

# %% [markdown]
# **Exercise 1.** Divide by the scale, round to the nearest integer (a plain `astype` would
# truncate 254.9 to 254), shift by the zero point, clip to the uint8 range, then convert.


# %%
def quantize_input(images: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    q = np.round(np.asarray(images, dtype=np.float32) / scale) + zero_point
    return np.clip(q, 0, 255).astype(np.uint8)


check.quantize_input(quantize_input)

# %% [markdown]
# **Exercise 2.** Four settings make a converter full-integer: the default optimisation, a
# representative dataset (one batch-of-one per call, scaled exactly like training data),
# integer-only built-in ops, and uint8 at the input and output.


# %% tags=["nbval-ignore-output"]
def int8_converter(saved_model_dir: str, representative: np.ndarray) -> bytes:
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]

    def calibration():
        for image in representative:
            yield [image[np.newaxis].astype(np.float32)]

    converter.representative_dataset = calibration
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.uint8
    converter.inference_output_type = tf.uint8
    return converter.convert()


check.int8_converter(int8_converter)

# %% [markdown]
# **Exercise 3.** Warm each size up once, then time one call per size in every round,
# reversing the order in odd rounds; images per second is the batch size over the call's
# seconds, and the median over rounds resists a round the machine spent elsewhere.


# %%
def throughput_curve(predict, images, batch_sizes, rounds) -> dict:
    for b in batch_sizes:
        predict(images[:b])  # warm-up: first calls allocate
    per_round = {b: [] for b in batch_sizes}
    for r in range(rounds):
        for b in batch_sizes if r % 2 == 0 else batch_sizes[::-1]:
            start = time.perf_counter()
            predict(images[:b])
            per_round[b].append(b / (time.perf_counter() - start))
    return {b: float(np.median(v)) for b, v in per_round.items()}


check.throughput_curve(throughput_curve)

# %% [markdown]
# On the chapter's architecture as int8 (untrained: the weights do not change the time),
# where does the curve flatten?

# %% tags=["nbval-ignore-output"]
with tempfile.TemporaryDirectory() as folder:
    saved = export.export_saved_model(models.compact_cnn(), folder, "probe", 1)
    calibration = np.random.default_rng(SEED).uniform(0, 1, (20, 28, 28, 1))
    int8 = export.TFLiteModel(export.to_tflite(saved, "int8", calibration))
sizes = [1, 4, 16, 64, 256]
curve = throughput_curve(
    int8.predict, np.zeros((256, 28, 28, 1), np.float32), sizes, rounds=7
)
gains = {b: curve[b] / curve[a] for a, b in zip(sizes, sizes[1:])}
flat = next((b for b, g in gains.items() if g < 1.1), None)
print(
    "images/s: " + ", ".join(f"batch {b} {v:,.0f}" for b, v in curve.items())
    + f". Batch {sizes[-1]} answers {curve[sizes[-1]] / curve[1]:.1f}x as many images a"
    " second as batch 1; "
    + (
        f"from batch {flat} on, a 4x larger batch gains under 10%: the fixed cost is"
        " paid."
        if flat
        else "the curve is still rising at the largest size tried."
    )
)
