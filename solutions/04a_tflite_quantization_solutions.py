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
import numpy as np

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
# **Exercise 3.** A convolution's output has `H*W*C_out` values, each a dot product over
# `kh*kw*C_in` weights, so its MACs are `H*W` times the size of its weight tensor; a
# depthwise convolution's weight tensor is `(1, kh, kw, C)`, the same rule holds; a dense
# layer does one MAC per weight.


# %%
def heaviest_op(interpreter) -> int:
    shapes = {t["index"]: t["shape"] for t in interpreter.get_tensor_details()}
    best, best_macs = -1, -1
    for op in interpreter._get_ops_details():
        if op["op_name"] not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        weights = int(np.prod(shapes[op["inputs"][1]]))
        out = shapes[op["outputs"][0]]
        macs = (
            weights if op["op_name"] == "FULLY_CONNECTED" else out[1] * out[2] * weights
        )
        if macs > best_macs:
            best, best_macs = op["index"], macs
    return best


check.heaviest_op(heaviest_op)
