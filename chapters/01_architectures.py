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
# # 01 · Architectures: LeNet-5, depthwise-separable and squeeze-excitation
#
# The article's first section proposes three building blocks: the classic LeNet-5, the
# depthwise-separable convolution of MobileNetV1, and the squeeze-and-excitation (SE) block.
# It claims that LeNet-5 passes 99% with about 60k parameters (**C1**), that separable blocks
# cut the parameters to 1/8 (**C2**) while keeping 99.2% and running 3x faster (**C3**), and
# that SE adds 0.7 points on cluttered backgrounds (**C4**). We build each block, count what it
# costs, train everything on the same split with the same recipe, and measure.
#
# **By the end of this chapter you will be able to**
#
# - build LeNet-5, a depthwise-separable block and an SE block in Keras, and derive each
#   layer's parameter count by hand;
# - explain why a separable convolution is cheaper in parameters and multiply-accumulates, and
#   why that does not always make it faster on a CPU;
# - measure single-image latency properly (warm-up, many calls, percentiles, a compiled path)
#   and say why `model.predict` is the wrong tool for it;
# - design an experiment that can detect a small effect (several seeds, paired differences);
# - use the course's main model, `compact_cnn`, that later chapters tune, quantise and serve.

# %%
# Colab set-up: on Google Colab, fetch this course; anywhere else, do nothing.
import sys

if "google.colab" in sys.modules:
    url = "https://github.com/mnist-course/mnist-course"
    # !git clone --quiet --depth 1 --branch main $url /content/mnist-course
    # %pip install --quiet -e /content/mnist-course
    sys.path.insert(0, "/content/mnist-course")  # no restart needed
    # %cd /content/mnist-course/chapters

# %%

from mnist_course.course.profile import (
    active_profile,
    import_tensorflow,
    seed_everything,
)

tf = import_tensorflow()  # TensorFlow, without its C++ start-up log lines
import keras
import matplotlib.pyplot as plt
import numpy as np

from mnist_course import data, models, robustness, training
from mnist_course.course import claims
from mnist_course.course.checks.ch01 import check
from mnist_course.course.claims import Claim, claims_table, markdown_table
from mnist_course.measure import accuracy, keras_file_size, latency_ms
from mnist_course.plots import image_grid

# %% tags=["parameters"]
PROFILE = "full"
SEED = 0
SIZES = {
    # n_train: training images; n_val/n_test: validation and test images (None: all);
    # epochs per model family; clutter_*: the SE experiment (C4); latency_runs: timed
    # single-image calls per model
    "quick": {
        "n_train": 2_000,
        "n_val": 1_000,
        "n_test": 2_000,
        "epochs_lenet": 1,
        "epochs_cnn": 1,
        "clutter_seeds": [0],
        "clutter_train": 1_000,
        "clutter_epochs": 1,
        "latency_runs": 50,
    },
    "full": {
        "n_train": 55_000,
        "n_val": None,
        "n_test": None,
        "epochs_lenet": 12,
        "epochs_cnn": 10,
        "clutter_seeds": [0, 1, 2, 3, 4],
        "clutter_train": 5_000,
        "clutter_epochs": 6,
        "latency_runs": 300,
    },
}
# LeNet-5 test accuracy floor: a sanity check that training worked (the article's 99% is
# judged in the Claims check, with an interval); quick only proves the code runs
LENET_FLOOR = {"quick": 0.5, "full": 0.98}

# %% tags=["nbval-ignore-output"]
PROFILE = active_profile(PROFILE)
S = SIZES[PROFILE]
seed_everything(SEED)
split = data.load_split()
x_train = data.to_model_input(split.x_train[: S["n_train"]])
y_train = split.y_train[: S["n_train"]]
x_val, y_val = data.to_model_input(split.x_val[: S["n_val"]]), split.y_val[: S["n_val"]]
x_test, y_test = (
    data.to_model_input(split.x_test[: S["n_test"]]),
    split.y_test[: S["n_test"]],
)
print(f"profile {PROFILE}: {len(x_train)} training images; {S}")

# %% [markdown]
# ## LeNet-5
#
# LeCun et al. (1998) stacked two convolution + subsampling stages and three dense layers.
# Our `models.lenet5()` keeps that shape on 28x28 inputs (the paper padded to 32x32; a 'same'
# first convolution gives the same 28x28x6 maps), with average pooling for subsampling, ReLU
# for the scaled tanh, and a full C3 layer (every map sees all six inputs). The article says
# "2 conv + 2 dense"; with the output layer counted, that is LeNet-5's 2 conv + 3 dense.
#
# Each layer's parameter count follows from its shape. For a convolution with a k x k kernel,
# C_in input and C_out output channels: `k*k*C_in*C_out + C_out`; for a dense layer:
# `n_in*n_out + n_out`. The table puts the formula next to what Keras reports.


# %%
def parameter_rows(model: keras.Model) -> list[list]:
    """One row per layer with weights: the formula, its value, and Keras's count."""
    rows = []
    for layer in model.layers:
        if not layer.weights:
            continue
        n = layer.count_params()
        if isinstance(layer, keras.layers.DepthwiseConv2D):
            (k, _), c = layer.kernel_size, layer.input.shape[-1]
            formula, value = f"{k}*{k}*{c} + {c}", k * k * c + c
        elif isinstance(layer, keras.layers.Conv2D):
            (k, _), c_in, c_out = (
                layer.kernel_size,
                layer.input.shape[-1],
                layer.filters,
            )
            bias = c_out if layer.use_bias else 0
            formula = f"{k}*{k}*{c_in}*{c_out}" + (f" + {c_out}" if bias else "")
            value = k * k * c_in * c_out + bias
        elif isinstance(layer, keras.layers.Dense):
            n_in, n_out = layer.input.shape[-1], layer.units
            formula, value = f"{n_in}*{n_out} + {n_out}", n_in * n_out + n_out
        elif isinstance(layer, keras.layers.BatchNormalization):
            c = layer.input.shape[-1]
            formula, value = f"4*{c} (2 trained, 2 running stats)", 4 * c
        else:
            formula, value = "", n
        rows.append([layer.name, type(layer).__name__, formula, value, n])
    return rows


lenet = models.lenet5()
lenet_rows = parameter_rows(lenet)
c5_share = lenet.get_layer("c5").count_params() / lenet.count_params()
print(
    f"{lenet.count_params():,} parameters, {c5_share:.0%} of them in the dense layer C5"
)
markdown_table(
    ["layer", "type", "formula", "by hand", "Keras"],
    lenet_rows + [["total", "", "", "", lenet.count_params()]],
)

# %% [markdown]
# Most of LeNet-5's parameters sit in the dense layer C5 (400 x 120). Keep that in mind: it
# decides how much a cheaper *convolution* can save.
#
# ## Depthwise-separable convolution
#
# A standard k x k convolution mixes space and channels at once: every output channel has its
# own k x k x C_in kernel. MobileNetV1 splits this in two:
#
# 1. a **depthwise** k x k convolution filters each input channel on its own
#    (`k*k*C_in` weights);
# 2. a **pointwise** 1x1 convolution mixes channels (`C_in*C_out` weights).
#
# Ignoring biases, the cost relative to a standard convolution is
# `(k*k*C_in + C_in*C_out) / (k*k*C_in*C_out) = 1/C_out + 1/k²`,
# the same ratio for parameters and for multiply-accumulates (MACs) per pixel. For 3x3
# kernels and 64 output channels, that is 1/64 + 1/9 = 0.127, close to 1/8: the origin of the
# article's "1/8". The table computes the ratio for the layers this chapter uses.


# %%
def separable_ratio(k: int, c_in: int, c_out: int) -> float:
    return (k * k * c_in + c_in * c_out) / (k * k * c_in * c_out)


layer_ratios = [
    [
        f"{k}x{k}",
        c_in,
        c_out,
        f"{separable_ratio(k, c_in, c_out):.3f}",
        f"1/{1 / separable_ratio(k, c_in, c_out):.1f}",
    ]
    for k, c_in, c_out in ((5, 6, 16), (3, 16, 32), (3, 32, 64), (3, 64, 128))
]
markdown_table(
    ["kernel", "C_in", "C_out", "separable / standard", "as a fraction"], layer_ratios
)

# %% [markdown]
# The block as the package builds it, read from the package as it runs now (so it cannot drift
# from what this chapter measures):

# %%
import inspect

from IPython.display import Code

Code(inspect.getsource(models.separable_conv), language="python")

# %% [markdown]
# `models.lenet5_separable()` replaces LeNet-5's C3 by such a block (C1 sees one channel, so a
# depthwise layer there could not mix anything). The convolution shrinks, but the dense layers
# do not.

# %%
lenet_sep = models.lenet5_separable()
markdown_table(
    ["layer", "type", "formula", "by hand", "Keras"],
    parameter_rows(lenet_sep) + [["total", "", "", "", lenet_sep.count_params()]],
)

# %% [markdown]
# ## Squeeze-and-excitation
#
# An SE block (Hu et al., 2018) lets the network reweight its own channels from global
# context:
#
# 1. **squeeze**: global average pooling turns each of the C feature maps into one number;
# 2. **excite**: `Dense(units, relu)` then `Dense(C, sigmoid)` turn those C numbers into C
#    weights in (0, 1);
# 3. **scale**: each feature map is multiplied by its weight.
#
# The bottleneck has `units = C // ratio` (ratio 16 in the paper). On narrow layers that
# collapses to one or zero units, so `models.se_units` keeps a floor of 4. An SE block costs
# `C*units + units + units*C + C` parameters and almost no compute. The package's block:

# %%
Code(
    inspect.getsource(models.se_units) + "\n\n" + inspect.getsource(models.se_block),
    language="python",
)

# %%
for channels in (6, 16, 32, 64, 256):
    units = models.se_units(channels, ratio=16)
    print(
        f"C={channels:>3}: C//16 = {channels // 16:>2}, units with floor 4 ="
        f" {units:>2}, parameters = {2 * channels * units + units + channels}"
    )

# %% [markdown]
# ## The course's main model
#
# LeNet-5 spends its parameters on dense layers. `models.compact_cnn()` spends them on
# convolutions: three 3x3 conv-BN-ReLU stages (16, 32, 64 channels at 28, 14 and 7 pixels),
# max pooling after each, dropout and one dense layer on the 3x3x64 maps. Its `separable=True`
# variant uses depthwise-separable blocks in stages 2 and 3; `se=True` adds an SE block after
# them. Later chapters tune, quantise and serve this model.

# %%
builders = {
    "lenet5": models.lenet5,
    "lenet5_separable": models.lenet5_separable,
    "compact_cnn": models.compact_cnn,
    "compact_cnn_separable": lambda: models.compact_cnn(separable=True),
    "compact_cnn_se": lambda: models.compact_cnn(se=True),
}
for name, build in builders.items():
    model = build()
    print(
        f"{name:22} {model.count_params():>7,} parameters "
        f" {models.count_macs(model):>10,} MACs"
    )

# %% [markdown]
# ## Training every model the same way
#
# Same split, same recipe (`training.fit`: Adam, cosine-decayed learning rate from 2e-3,
# batch 128), same seed; the validation set watches, the test set waits. LeNet-5 gets more
# epochs than the compact models because each of its epochs is much cheaper and it learns
# more slowly without batch norm.

# %% tags=["nbval-ignore-output"]
trained, histories = {}, {}
for name, build in builders.items():
    seed_everything(SEED)
    model = build()
    epochs = S["epochs_lenet"] if name.startswith("lenet") else S["epochs_cnn"]
    histories[name] = training.fit(
        model, x_train, y_train, (x_val, y_val), epochs=epochs
    )
    trained[name] = model

# %% tags=["nbval-ignore-output"]
fig, ax = plt.subplots(figsize=(8, 4))
for name, history in histories.items():
    epochs = np.arange(1, len(history["val_accuracy"]) + 1)
    ax.plot(epochs, np.array(history["val_accuracy"]) * 100, marker=".", label=name)
ax.set(
    xlabel="epoch",
    ylabel="validation accuracy (%)",
    ylim=(97, 100),
    title="Validation accuracy during training",
)
ax.grid(alpha=0.3)
ax.legend()
plt.show()


def last_quarter(curve) -> str:
    """What the validation accuracy did over the last quarter of the epochs."""
    quarter = max(1, len(curve) // 4)
    if len(curve) <= quarter:
        return f"{len(curve)} epoch(s), too few to tell"
    return (
        f"{100 * (curve[-1] - curve[-1 - quarter]):+.2f} points over the last {quarter}"
    )


for name, h in histories.items():
    flat = claims.converged(h["val_accuracy"], len(y_val))
    print(
        f"{name}: {'converged' if flat else 'still rising'}"
        f" ({last_quarter(h['val_accuracy'])})"
    )
print(
    "Converged means: validation accuracy rose by less than one standard error of the"
    " validation split over the last quarter of the epochs (claims.converged)."
)

# %% [markdown]
# ## Measuring latency
#
# The article's latency claims concern one image at a time, as a phone or a web service sees
# them. Timing that is easy to get wrong:
#
# - `model.predict` is built for large arrays: every call sets up a data pipeline and a
#   batching loop, which costs far more than the network itself on one 28x28 image;
# - the first calls trace graphs and allocate memory, so they must be excluded (warm-up);
# - single timings are noisy, so we report the median (p50) and the 99th percentile (p99) of
#   many calls.
#
# The fast path here is a `tf.function` with a fixed input signature: the graph is traced
# once, then each call runs it directly. The cell below times three ways to classify one image
# with the same model.


# %% tags=["nbval-ignore-output"]
def compiled(model: keras.Model):
    """A graph function for one float32 image batch (1, 28, 28, 1)."""
    return tf.function(
        lambda x: model(x, training=False),
        input_signature=[tf.TensorSpec((1, 28, 28, 1), tf.float32)],
    )


probe = trained["compact_cnn"]
singles = x_test[:64]
ways = {
    "model.predict(x)": (lambda x: probe.predict(x, verbose=0), 30),
    "model(x) (eager)": (lambda x: probe(x, training=False), 100),
    "tf.function": (compiled(probe), S["latency_runs"]),
}
way_times = {
    label: latency_ms(fn, singles, runs=runs, warmup=5)
    for label, (fn, runs) in ways.items()
}
fastest = way_times["tf.function"]["p50"]
markdown_table(
    ["call", "p50 (ms)", "p99 (ms)", "p50 / tf.function"],
    [
        [label, f"{t['p50']:.3f}", f"{t['p99']:.3f}", f"{t['p50'] / fastest:.1f}x"]
        for label, t in way_times.items()
    ],
)

# %% [markdown]
# ## The results, side by side
#
# One table from this one run: parameters, MACs per image, size of the saved `.keras` file,
# test accuracy, and single-image latency through the compiled path, all models measured in the
# same process, one after the other, with the same inputs. Ratios compare each separable model
# with its standard twin.

# %% tags=["nbval-ignore-output"]
results = {}
for name, model in trained.items():
    results[name] = {
        "params": model.count_params(),
        "macs": models.count_macs(model),
        "kb": keras_file_size(model) / 1024,
        "test_acc": accuracy(model, x_test, y_test),
        "latency": latency_ms(compiled(model), singles, runs=S["latency_runs"]),
        "seconds": histories[name]["seconds"],
    }
markdown_table(
    [
        "model",
        "parameters",
        "MACs",
        ".keras KB",
        "test acc (%)",
        "p50 (ms)",
        "p99 (ms)",
        "train (s)",
    ],
    [
        [
            name,
            f"{r['params']:,}",
            f"{r['macs']:,}",
            f"{r['kb']:.0f}",
            f"{r['test_acc'] * 100:.2f}",
            f"{r['latency']['p50']:.3f}",
            f"{r['latency']['p99']:.3f}",
            f"{r['seconds']:.0f}",
        ]
        for name, r in results.items()
    ],
)

# %% tags=["nbval-ignore-output"]
pairs = [("lenet5", "lenet5_separable"), ("compact_cnn", "compact_cnn_separable")]
ratio_rows = []
for base, sep in pairs:
    b, s = results[base], results[sep]
    ratio_rows.append([
        f"{sep} / {base}",
        f"{s['params'] / b['params']:.3f}",
        f"{s['macs'] / b['macs']:.3f}",
        f"{b['latency']['p50'] / s['latency']['p50']:.2f}x",
        f"{(s['test_acc'] - b['test_acc']) * 100:+.2f}",
    ])
sep_macs = results["compact_cnn_separable"]["macs"] / results["compact_cnn"]["macs"]
sep_speed = (
    results["compact_cnn"]["latency"]["p50"]
    / results["compact_cnn_separable"]["latency"]["p50"]
)
print(
    f"compact CNN: separable blocks cut MACs to {sep_macs:.2f}x; one image runs"
    f" {sep_speed:.2f}x as fast (p50), where MACs alone would predict"
    f" {1 / sep_macs:.1f}x"
)
markdown_table(
    [
        "pair",
        "parameter ratio",
        "MAC ratio",
        "speed-up (p50)",
        "accuracy change (points)",
    ],
    ratio_rows,
)

# %% tags=["nbval-ignore-output"]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
for i, (name, r) in enumerate(results.items()):
    color, nudge = f"C{i}", (
        4,
        4 if i % 2 == 0 else -10,
    )  # alternate labels up and down
    ax1.scatter(r["params"], r["test_acc"] * 100, s=60, color=color)
    ax1.annotate(
        name,
        (r["params"], r["test_acc"] * 100),
        fontsize=8,
        xytext=nudge,
        textcoords="offset points",
    )
    ax2.errorbar(
        r["params"],
        r["latency"]["p50"],
        color=color,
        marker="o",
        capsize=3,
        yerr=[[0], [r["latency"]["p99"] - r["latency"]["p50"]]],
    )
    ax2.annotate(
        name,
        (r["params"], r["latency"]["p50"]),
        fontsize=8,
        xytext=nudge,
        textcoords="offset points",
    )
ax1.set(
    xscale="log",
    xlabel="parameters (log scale)",
    ylabel="test accuracy (%)",
    title="Accuracy against size",
)
ax2.set(
    xscale="log",
    xlabel="parameters (log scale)",
    ylabel="latency p50 (ms), bar to p99",
    title="Single-image latency against size",
)
for ax in (ax1, ax2):
    ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()

# %% [markdown]
# Why fewer MACs need not buy a proportional speed-up (compare the line above the table): on
# a CPU, a depthwise convolution does very
# little arithmetic per byte it moves (each weight touches one channel), so it runs far below
# the machine's peak, while a standard convolution is a dense matrix product that oneDNN runs
# near peak. At this tiny size, per-layer overhead (one kernel launch per layer, and the
# separable block has two layers where the standard one has one) is a large share of the time
# too. The 3x figure belongs to phones with kernels tuned for depthwise layers, and to large
# inputs where arithmetic dominates.

# %% tags=["nbval-ignore-output"]
assert results["lenet5"]["test_acc"] >= LENET_FLOOR[PROFILE], results["lenet5"][
    "test_acc"
]

# %% [markdown]
# ## Cluttered backgrounds: does SE help? (C4)
#
# The article gives no data set for "complex background clutter". We build one in the spirit
# of the "MNIST variations" benchmarks: each digit on a background of random noise, and again
# on a background of rotated, shifted pieces of other digits (`robustness.cluttered_set`,
# deterministic for a seed; the digit's own strokes stay on top).

# %%
gallery, _ = robustness.cluttered_set(split.x_test[:8], split.y_test[:8], seed=SEED)
image_grid(np.concatenate([split.x_test[:8], gallery]), ncols=8)
plt.show()

# %% [markdown]
# A 0.7-point effect can be smaller than the change from one random seed to the next, so a
# single pair of runs cannot tell. We train the compact model with and without SE on
# cluttered training images, once per seed, and compare the pair from each seed. To make the
# pair a real *paired* comparison, both models of a pair see the same images in the same
# order (`training.fit(..., seed=seed)`) and start from the same weights wherever their
# layers coincide: the SE model's convolutions, batch norms and classifier are copied from the
# plain model before training, so only the SE blocks start from their own initialisation.

# %% tags=["nbval-ignore-output"]
n_clutter = S["clutter_train"]
xc_train, yc_train = robustness.cluttered_set(
    split.x_train[:n_clutter], split.y_train[:n_clutter], seed=SEED + 10
)
xc_val, yc_val = robustness.cluttered_set(
    split.x_val[: S["n_val"]], y_val, seed=SEED + 20
)
xc_test, yc_test = robustness.cluttered_set(
    split.x_test[: S["n_test"]], y_test, seed=SEED + 30
)
xc_train, xc_val, xc_test = map(data.to_model_input, (xc_train, xc_val, xc_test))


def share_weights(source: keras.Model, target: keras.Model) -> list[str]:
    """Copy the weights of every layer that both models have (same name, same
    shapes)."""
    shared = []
    for layer in target.layers:
        if layer.weights and layer.name in {other.name for other in source.layers}:
            weights = source.get_layer(layer.name).get_weights()
            if [w.shape for w in weights] == [w.shape for w in layer.get_weights()]:
                layer.set_weights(weights)
                shared.append(layer.name)
    return shared


clutter_acc = {"compact_cnn": [], "compact_cnn_se": []}
clutter_converged = {"compact_cnn": [], "compact_cnn_se": []}
for seed in S["clutter_seeds"]:
    seed_everything(seed)
    plain = models.compact_cnn(name=f"compact_cnn_seed{seed}")
    with_se = models.compact_cnn(se=True, name=f"compact_cnn_se_seed{seed}")
    shared = share_weights(plain, with_se)
    for name, model in (("compact_cnn", plain), ("compact_cnn_se", with_se)):
        # the same dropout draws for both, as far as they coincide
        seed_everything(seed)
        history = training.fit(
            model,
            xc_train,
            yc_train,
            (xc_val, yc_val),
            epochs=S["clutter_epochs"],
            seed=seed,
        )
        clutter_acc[name].append(accuracy(model, xc_test, yc_test))
        clutter_converged[name].append(
            claims.converged(history["val_accuracy"], len(yc_val))
        )
print(f"layers starting from the same weights in each pair: {', '.join(shared)}")

# %% tags=["nbval-ignore-output"]
base_acc = np.array(clutter_acc["compact_cnn"]) * 100
se_acc = np.array(clutter_acc["compact_cnn_se"]) * 100
diffs = se_acc - base_acc
n_seeds = len(diffs)
# t-interval over the paired seeds; equal accuracies differ by less than one image
se_gain = claims.paired_difference(se_acc, base_acc, resolution=100 / len(yc_test))
mean_diff, low, high = se_gain.estimate, se_gain.low, se_gain.high
clean_models_on_clutter = {
    name: accuracy(trained[name], xc_test, yc_test) * 100
    for name in ("compact_cnn", "compact_cnn_se")
}
markdown_table(
    ["", "compact_cnn", "compact_cnn_se", "SE - plain (points)"],
    [
        [f"seed {s}", f"{b:.2f}", f"{e:.2f}", f"{d:+.2f}"]
        for s, b, e, d in zip(S["clutter_seeds"], base_acc, se_acc, diffs)
    ]
    + [
        [
            "mean",
            f"{base_acc.mean():.2f}",
            f"{se_acc.mean():.2f}",
            f"{mean_diff:+.2f} (interval {low:+.2f} to {high:+.2f})",
        ],
        [
            "trained on clean digits",
            f"{clean_models_on_clutter['compact_cnn']:.2f}",
            f"{clean_models_on_clutter['compact_cnn_se']:.2f}",
            "",
        ],
    ],
)

# %% [markdown]
# The last row is a reminder of why the experiment trains on clutter: it shows what models
# that have only seen clean digits score on a busy background, with or without SE.
#
# ## Claims check
#
# Every verdict below is computed from this run's numbers by the rules in the code.

# %% tags=["nbval-ignore-output"]
n_test = len(y_test)
lenet_acc = claims.binomial_interval(
    round(results["lenet5"]["test_acc"] * n_test), n_test
)
lenet_params = results["lenet5"]["params"]
converged = {
    name: claims.converged(h["val_accuracy"], len(y_val))
    for name, h in histories.items()
}
c1 = claims.judge(
    "C1",
    {
        "accuracy": lenet_acc.scaled(100),
        "parameters": claims.exact(lenet_params, 1, "Keras's count"),
    },
    converged={"LeNet-5": converged["lenet5"]},
)

# C2 on the trained models: the whole compact model, and its third stage alone, as Keras
# counts them (biases and batch norm included)
standard, separable = trained["compact_cnn"], trained["compact_cnn_separable"]
whole_factor = standard.count_params() / separable.count_params()
stage_standard = standard.get_layer("conv3").count_params()
stage_separable = sum(
    separable.get_layer(n).count_params()
    for n in ("conv3_dw", "conv3_dw_bn", "conv3_pw")
)
stage_factor = stage_standard / stage_separable
lenet_factor = results["lenet5"]["params"] / results["lenet5_separable"]["params"]
# one parameter more or less in the separable model
c2 = claims.judge(
    "C2",
    claims.exact(
        whole_factor, whole_factor / separable.count_params(), "Keras's counts"
    ),
)

sep_acc = claims.binomial_interval(
    round(results["compact_cnn_separable"]["test_acc"] * n_test), n_test
)


def p50_ratio(slow, fast):
    return np.median(slow) / np.median(fast)


speedup = claims.bootstrap_interval(
    results["compact_cnn"]["latency"]["samples"],
    results["compact_cnn_separable"]["latency"]["samples"],
    statistic=p50_ratio,
    what="timed calls",
)
c3 = claims.judge(
    "C3",
    {"accuracy": sep_acc.scaled(100), "speed": speedup},
    converged={"the separable model": converged["compact_cnn_separable"]},
)
c4 = claims.judge(
    "C4",
    se_gain,
    converged={
        f"{name} (seed {seed})": ok
        for name, oks in clutter_converged.items()
        for seed, ok in zip(S["clutter_seeds"], oks)
    },
)
macs_ratio = results["compact_cnn_separable"]["macs"] / results["compact_cnn"]["macs"]

claims_table([
    Claim(
        "C1",
        f"{lenet_acc.estimate:.2%} test (95% interval {lenet_acc.low:.2%} to "
        f"{lenet_acc.high:.2%}) with {lenet_params:,} parameters",
        c1,
        "LeCun's LeNet-5 shape with ReLU and average pooling, "
        f"{S['epochs_lenet']} epochs on {len(x_train):,} images.",
    ),
    Claim(
        "C2",
        f"whole compact model: 1/{whole_factor:.1f}; its third stage alone: "
        f"1/{stage_factor:.1f}; LeNet-5: 1/{lenet_factor:.2f} (trained models, "
        "Keras's counts)",
        c2,
        "1/8 is the per-layer ratio 1/C_out + 1/k² for 3x3 kernels without biases;"
        " whole models keep their first convolution, batch norms and dense layer, which"
        " separable blocks do not touch.",
    ),
    Claim(
        "C3",
        f"{sep_acc.estimate:.2%} test (interval {sep_acc.low:.2%} to "
        f"{sep_acc.high:.2%}); {speedup.estimate:.2f}x the standard model's speed "
        f"(p50, one image, this CPU; interval {speedup.low:.2f}x to "
        f"{speedup.high:.2f}x)",
        c3,
        f"MACs fall to {macs_ratio:.2f}x, but depthwise kernels are memory-bound on"
        " CPUs and per-layer overhead dominates at 28x28.",
    ),
    Claim(
        "C4",
        f"{mean_diff:+.2f} points (paired, {n_seeds} seed(s); interval {low:+.2f} to "
        f"{high:+.2f})",
        c4,
        "Our cluttered set (noise and digit-stroke backgrounds); compact CNN with and"
        f" without SE trained on {n_clutter:,} cluttered images, same data order and"
        " shared initial weights within each pair.",
    ),
])

# %% [markdown]
# ## Exercises
#
# Solutions: `solutions/01_architectures_solutions.ipynb`.
#
# **Exercise 1.** Write `separable_params(k, c_in, c_out)`: the parameter count of a
# depthwise k x k convolution (with biases) followed by a 1x1 convolution to `c_out` channels
# (with biases), as Keras counts them. Then compare it with a standard convolution's for
# k=3, c_in=c_out=256.


# %%
def separable_params(k: int, c_in: int, c_out: int) -> int:
    raise NotImplementedError


check.separable_params(separable_params)

# %% [markdown]
# **Exercise 2.** Implement an SE block from scratch: `my_se_block(x, ratio)` takes a Keras
# tensor `(H, W, C)` and returns the rescaled tensor, with a bottleneck of
# `max(4, C // ratio)` units. Use only Keras layers (no `models.se_block`).


# %%
def my_se_block(x, ratio: int = 16):
    raise NotImplementedError


check.se_block(my_se_block)

# %% [markdown]
# **Exercise 3.** Design a model with at most 20,000 parameters that reaches 97% validation
# accuracy after 3 epochs on 20,000 training images with `training.fit`. Return logits (no
# softmax). The checker trains it, so it takes several seconds. A plain two-convolution
# network of that size falls short; which of this chapter's ideas close the gap?


# %%
def budget_model() -> keras.Model:
    raise NotImplementedError


check.budget_model(budget_model)
