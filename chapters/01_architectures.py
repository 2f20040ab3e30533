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
import time

CHAPTER_START = time.perf_counter()  # the closing cell prints this run's time

from mnist_course.course.profile import (
    active_profile,
    import_tensorflow,
    seed_everything,
)

tf = import_tensorflow()  # TensorFlow, without its C++ start-up log lines
import keras
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display

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
    # epochs per model family; lenet_seeds: LeNet-5's seeds (C1); clutter_*: the SE
    # experiment (C4): paired seeds, training and validation digits (each shown on two
    # kinds of clutter), epochs; latency_runs: timed single-image calls per model;
    # rounds x round_runs: C3's alternating timing rounds
    "quick": {
        "n_train": 2_000,
        "n_val": 1_000,
        "n_test": 2_000,
        "epochs_lenet": 1,
        "epochs_cnn": 1,
        "lenet_seeds": [0, 1],
        "clutter_seeds": [0, 1],
        "clutter_train": 1_000,
        "clutter_val": 500,
        "clutter_epochs": 2,
        "latency_runs": 50,
        "rounds": 2,
        "round_runs": 30,
    },
    "full": {
        "n_train": 55_000,
        "n_val": None,
        "n_test": None,
        "epochs_lenet": 12,
        "epochs_cnn": 7,
        "lenet_seeds": [0, 1, 2, 3, 4],
        "clutter_seeds": [0, 1, 2, 3, 4],
        "clutter_train": 6_000,
        "clutter_val": 1_500,
        "clutter_epochs": 7,
        "latency_runs": 300,
        "rounds": 6,
        "round_runs": 200,
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
display(
    markdown_table(
        ["layer", "type", "formula", "by hand", "Keras"],
        lenet_rows + [["total", "", "", "", lenet.count_params()]],
    )
)
assert all(row[3] == row[4] for row in lenet_rows), "a formula disagrees with Keras"
c5_share = lenet.get_layer("c5").count_params() / lenet.count_params()
conv_share = sum(
    layer.count_params()
    for layer in lenet.layers
    if isinstance(layer, keras.layers.Conv2D)
) / lenet.count_params()
print(
    f"Every formula matches Keras's count. Of LeNet-5's {lenet.count_params():,}"
    f" parameters, {c5_share:.0%} sit in the dense layer C5 and only"
    f" {conv_share:.1%} in its two convolutions: that share decides how much a cheaper"
    " *convolution* can save."
)

# %% [markdown]
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


layer_shapes = ((5, 6, 16), (3, 16, 32), (3, 32, 64), (3, 64, 128))
ratios = [separable_ratio(*shape) for shape in layer_shapes]
layer_ratios = [
    [f"{k}x{k}", c_in, c_out, f"{ratio:.3f}", f"1/{1 / ratio:.1f}"]
    for (k, c_in, c_out), ratio in zip(layer_shapes, ratios)
]
display(
    markdown_table(
        ["kernel", "C_in", "C_out", "separable / standard", "as a fraction"],
        layer_ratios,
    )
)
print(
    f"For 3x3 kernels the saving grows with the output channels, from"
    f" 1/{1 / ratios[1]:.1f} at {layer_shapes[1][2]} to 1/{1 / ratios[-1]:.1f} at"
    f" {layer_shapes[-1][2]}; LeNet-5's 5x5 C3 saves 1/{1 / ratios[0]:.1f} with only"
    f" {layer_shapes[0][2]} outputs, since 1/k² is smaller for larger kernels."
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
display(
    markdown_table(
        ["layer", "type", "formula", "by hand", "Keras"],
        parameter_rows(lenet_sep) + [["total", "", "", "", lenet_sep.count_params()]],
    )
)
c3_saved = lenet.get_layer("c3").count_params() - sum(
    lenet_sep.get_layer(n).count_params() for n in ("c3_dw", "c3_pw")
)
print(
    f"C3 shrinks from {lenet.get_layer('c3').count_params():,} to"
    f" {lenet.get_layer('c3').count_params() - c3_saved:,} parameters, but the whole"
    f" model only from {lenet.count_params():,} to {lenet_sep.count_params():,}"
    f" (1/{lenet.count_params() / lenet_sep.count_params():.2f}): the dense layers are"
    " untouched. Since the parameter count already settles this model's question, the"
    " chapter does not train it."
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
se_costs = {}
for channels in (6, 16, 32, 64, 256):
    units = models.se_units(channels, ratio=16)
    se_costs[channels] = 2 * channels * units + units + channels
    print(
        f"C={channels:>3}: C//16 = {channels // 16:>2}, units with floor 4 ="
        f" {units:>2}, parameters = {se_costs[channels]}"
    )
floored = [c for c in se_costs if c // 16 < models.se_units(c, ratio=16)]
print(
    f"The floor decides the width for C = {', '.join(map(str, floored))}; an SE block"
    f" after a {max(se_costs)}-channel layer costs {se_costs[max(se_costs)]:,}"
    f" parameters, after a {min(se_costs)}-channel one {se_costs[min(se_costs)]}."
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
sizes = {}
for name, build in builders.items():
    model = build()
    sizes[name] = (model.count_params(), models.count_macs(model))
    print(f"{name:22} {sizes[name][0]:>7,} parameters  {sizes[name][1]:>10,} MACs")
print(
    f"compact_cnn has {sizes['compact_cnn'][0] / sizes['lenet5'][0]:.2f}x LeNet-5's"
    f" parameters but {sizes['compact_cnn'][1] / sizes['lenet5'][1]:.1f}x its MACs (its"
    " convolutions run on larger maps); the separable variant keeps"
    f" {sizes['compact_cnn_separable'][0] / sizes['compact_cnn'][0]:.2f}x of its"
    " parameters and"
    f" {sizes['compact_cnn_separable'][1] / sizes['compact_cnn'][1]:.2f}x of its MACs;"
    " SE adds"
    f" {sizes['compact_cnn_se'][0] - sizes['compact_cnn'][0]:,} parameters"
    f" ({sizes['compact_cnn_se'][0] / sizes['compact_cnn'][0] - 1:.1%})."
)


# %% [markdown]
# ## Training every model the same way
#
# Same split, same recipe (`training.fit`: Adam with a cosine-decayed learning rate; its
# starting value and batch size are printed below, read from the function itself), same
# seed; the validation set watches, the test set waits. LeNet-5 is trained once per seed
# in `lenet_seeds`, so that C1 rests on the spread between seeds rather than on one run;
# the compact models, which cost more per epoch, are trained once each. Each family trains
# until its validation curve is flat (the criterion is printed with the curves).

# %% tags=["nbval-ignore-output"]
fit_defaults = inspect.signature(training.fit).parameters
LEARNING_RATE = fit_defaults["learning_rate"].default
BATCH_SIZE = fit_defaults["batch_size"].default
print(
    f"recipe: Adam, learning rate {LEARNING_RATE:g} decayed on a cosine to 0, batch"
    f" {BATCH_SIZE}; LeNet-5: {S['epochs_lenet']} epochs x {len(S['lenet_seeds'])}"
    f" seed(s); compact models: {S['epochs_cnn']} epochs, seed {SEED}"
)
train_names = ["lenet5", "compact_cnn", "compact_cnn_separable", "compact_cnn_se"]
trained, histories = {}, {}
for name in train_names:
    seed_everything(SEED)
    model = builders[name]()
    epochs = S["epochs_lenet"] if name.startswith("lenet") else S["epochs_cnn"]
    histories[name] = training.fit(
        model, x_train, y_train, (x_val, y_val), epochs=epochs, seed=SEED
    )
    trained[name] = model

# the other LeNet-5 seeds: new initial weights and a new data order each
lenet_runs = {SEED: (trained["lenet5"], histories["lenet5"])}
for seed in S["lenet_seeds"]:
    if seed not in lenet_runs:
        seed_everything(seed)
        model = models.lenet5(name=f"lenet5_seed{seed}")
        history = training.fit(
            model, x_train, y_train, (x_val, y_val), epochs=S["epochs_lenet"], seed=seed
        )
        lenet_runs[seed] = (model, history)

# %% tags=["nbval-ignore-output"]
fig, ax = plt.subplots(figsize=(8, 4))
for i, (name, history) in enumerate(histories.items()):
    epochs = np.arange(1, len(history["val_accuracy"]) + 1)
    ax.plot(
        epochs, np.array(history["val_accuracy"]) * 100, marker=".", color=f"C{i}",
        label=name
    )
for seed, (_, history) in lenet_runs.items():
    if seed != SEED:
        curve = np.array(history["val_accuracy"]) * 100
        ax.plot(np.arange(1, len(curve) + 1), curve, color="C0", lw=0.8, alpha=0.4)
ax.set(
    xlabel="epoch",
    ylabel="validation accuracy (%)",
    ylim=(97, 100),
    title="Validation accuracy during training (thin: LeNet-5's other seeds)",
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


converged = {
    name: claims.converged(h["val_accuracy"], len(y_val))
    for name, h in histories.items()
}
lenet_converged = {
    seed: claims.converged(h["val_accuracy"], len(y_val))
    for seed, (_, h) in lenet_runs.items()
}
for name, h in histories.items():
    print(
        f"{name}: {'converged' if converged[name] else 'still rising'}"
        f" ({last_quarter(h['val_accuracy'])})"
    )
print(
    f"LeNet-5 over its {len(lenet_runs)} seed(s): {sum(lenet_converged.values())}"
    " converged"
)
print(
    "Converged means: validation accuracy rose by less than one standard error of the"
    " validation split over the last quarter of the epochs (claims.converged)."
)
final_val = {name: h["val_accuracy"][-1] * 100 for name, h in histories.items()}
best_val = max(final_val, key=final_val.get)
worst_val = min(final_val, key=final_val.get)
main_curve = np.array(histories["compact_cnn"]["val_accuracy"])
lenet_curve = np.array(histories["lenet5"]["val_accuracy"])
common = min(len(main_curve), len(lenet_curve))
behind = [e + 1 for e in range(common) if main_curve[e] < lenet_curve[e]]
print(
    f"At the end, {best_val} is highest on validation ({final_val[best_val]:.2f}%) and"
    f" {worst_val} lowest ({final_val[worst_val]:.2f}%,"
    f" {final_val[best_val] - final_val[worst_val]:.2f} points behind). The main model,"
    " compact_cnn, is behind LeNet-5 (seed"
    f" {SEED}) at {len(behind)} of the first {common} epochs"
    + (f" (epoch {', '.join(map(str, behind))})" if behind else "")
    + f" and ends {final_val['compact_cnn'] - final_val['lenet5']:+.2f} points from it."
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
display(
    markdown_table(
        ["call", "p50 (ms)", "p99 (ms)", "p50 / tf.function"],
        [
            [label, f"{t['p50']:.3f}", f"{t['p99']:.3f}", f"{t['p50'] / fastest:.1f}x"]
            for label, t in way_times.items()
        ],
    )
)
print(
    f"For one image, model.predict takes"
    f" {way_times['model.predict(x)']['p50'] / fastest:.0f}x and an eager call"
    f" {way_times['model(x) (eager)']['p50'] / fastest:.1f}x the time of the compiled"
    " call: every latency below goes through tf.function."
)

# %% [markdown]
# ## The results, side by side
#
# One table from this one run: parameters, MACs per image, size of the saved `.keras` file,
# test accuracy, and single-image latency through the compiled path, all models measured in
# the same process, one after the other, with the same inputs. LeNet-5's row is its seed
# `SEED`; the table after it shows every seed.

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
display(
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
)
test_best = max(results, key=lambda n: results[n]["test_acc"])
quickest = min(results, key=lambda n: results[n]["latency"]["p50"])
print(
    f"On test, {test_best} is the most accurate ({results[test_best]['test_acc']:.2%});"
    f" {quickest} has the lowest p50 ({results[quickest]['latency']['p50']:.3f} ms),"
    f" and the smallest file is"
    f" {min(results, key=lambda n: results[n]['kb'])}."
)

# %% tags=["nbval-ignore-output"]
lenet_seed_acc = {
    seed: accuracy(model, x_test, y_test) for seed, (model, _) in lenet_runs.items()
}
lenet_acc = claims.accuracy_over_seeds(list(lenet_seed_acc.values()), len(y_test))
display(
    markdown_table(
        ["LeNet-5 seed", "final validation acc (%)", "converged", "test acc (%)"],
        [
            [
                seed,
                f"{lenet_runs[seed][1]['val_accuracy'][-1] * 100:.2f}",
                "yes" if lenet_converged[seed] else "no",
                f"{acc * 100:.2f}",
            ]
            for seed, acc in lenet_seed_acc.items()
        ]
        + [
            [
                "mean",
                "",
                "",
                f"{lenet_acc.estimate:.2%} (interval {lenet_acc.low:.2%} to"
                f" {lenet_acc.high:.2%})",
            ]
        ],
    )
)
main_acc = results["compact_cnn"]["test_acc"]
place = (
    "above" if main_acc > lenet_acc.high
    else "below" if main_acc < lenet_acc.low
    else "inside"
)
above_99 = sum(acc > 0.99 for acc in lenet_seed_acc.values())
print(
    f"LeNet-5's test accuracy ranges from {min(lenet_seed_acc.values()):.2%} to"
    f" {max(lenet_seed_acc.values()):.2%} over {len(lenet_seed_acc)} seed(s);"
    f" {above_99} of them pass 99%. The main model's {main_acc:.2%}"
    f" ({results['compact_cnn']['params'] / results['lenet5']['params']:.2f}x LeNet-5's"
    f" parameters) lies {place} LeNet-5's interval over seeds"
    + (
        ": here the main model loses to LeNet-5."
        if place == "below"
        else ": LeNet-5 does not beat it." if place == "above"
        else ": one seed of the main model cannot tell the two apart."
    )
)

# %% tags=["nbval-ignore-output"]
std_fn = compiled(trained["compact_cnn"])
sep_fn = compiled(trained["compact_cnn_separable"])
round_p50 = {"compact_cnn": [], "compact_cnn_separable": []}
for r in range(S["rounds"]):
    # which model goes first alternates, so a slow drift of the machine reaches both
    order = list(round_p50) if r % 2 == 0 else list(round_p50)[::-1]
    for name in order:
        fn = std_fn if name == "compact_cnn" else sep_fn
        round_p50[name].append(
            latency_ms(fn, singles, runs=S["round_runs"], warmup=5)["p50"]
        )
speedup = claims.t_interval(
    np.divide(round_p50["compact_cnn"], round_p50["compact_cnn_separable"]),
    what="alternating rounds",
    resolution=1e-3,  # timings to the microsecond
)
b, sep = results["compact_cnn"], results["compact_cnn_separable"]
sep_macs = sep["macs"] / b["macs"]
display(
    markdown_table(
        [
            "pair",
            "parameter ratio",
            "MAC ratio",
            "speed-up (p50, rounds)",
            "accuracy change (points)",
        ],
        [
            [
                "compact_cnn_separable / compact_cnn",
                f"{sep['params'] / b['params']:.3f}",
                f"{sep_macs:.3f}",
                f"{speedup.estimate:.2f}x ({speedup.low:.2f}x to {speedup.high:.2f}x)",
                f"{(sep['test_acc'] - b['test_acc']) * 100:+.2f}",
            ]
        ],
    )
)
print(
    f"compact CNN: separable blocks cut MACs to {sep_macs:.2f}x; over {S['rounds']}"
    f" alternating rounds of {S['round_runs']} calls, one image runs"
    f" {speedup.estimate:.2f}x as fast (p50), where MACs alone would predict"
    f" {1 / sep_macs:.1f}x; its test accuracy changes by"
    f" {(sep['test_acc'] - b['test_acc']) * 100:+.2f} points."
)

# %% tags=["nbval-ignore-output"]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
for i, (name, r) in enumerate(results.items()):
    color, nudge = f"C{i}", (4, 4 if i % 2 == 0 else -10)  # labels up and down
    if name == "lenet5":  # the mean over seeds, with its interval
        acc, err = lenet_acc.estimate * 100, [
            [(lenet_acc.estimate - lenet_acc.low) * 100],
            [(lenet_acc.high - lenet_acc.estimate) * 100],
        ]
        label = f"lenet5 ({len(lenet_seed_acc)} seeds)"
    else:
        acc, err, label = r["test_acc"] * 100, None, name
    ax1.errorbar(r["params"], acc, yerr=err, color=color, marker="o", capsize=3)
    ax1.annotate(
        label, (r["params"], acc), fontsize=8, xytext=nudge, textcoords="offset points"
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
biggest = max(results, key=lambda n: results[n]["params"])
smallest = min(results, key=lambda n: results[n]["params"])
print(
    ("Here the largest model is also the most accurate: " if test_best == biggest
     else "Size does not buy accuracy here: ")
    + f"the largest, {biggest} ({results[biggest]['params']:,} parameters), scores"
    f" {results[biggest]['test_acc']:.2%} (seed {SEED}), the smallest, {smallest}"
    f" ({results[smallest]['params']:,}), {results[smallest]['test_acc']:.2%}, and the"
    f" most accurate is {test_best}. Latency spans"
    f" {min(r['latency']['p50'] for r in results.values()):.3f} to"
    f" {max(r['latency']['p50'] for r in results.values()):.3f} ms (p50), {quickest}"
    " fastest."
)

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
assert min(lenet_seed_acc.values()) >= LENET_FLOOR[PROFILE], lenet_seed_acc

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
lit = {
    name: 100 * (rows > 0).mean()
    for name, rows in [
        ("clean", split.x_test[:8]),
        (robustness.CLUTTER_KINDS[0], gallery[:8]),
        (robustness.CLUTTER_KINDS[1], gallery[8:]),
    ]
}
print(
    "Share of pixels with any ink: "
    + ", ".join(f"{name} {share:.0f}%" for name, share in lit.items())
    + f". The clutter lights {max(lit.values()) / lit['clean']:.1f} times as many"
    " pixels as the digit alone, so a model must learn which strokes to ignore."
)

# %% [markdown]
# Top row: the clean digits; middle row: on noise; bottom row: on pieces of other digits.
#
# A 0.7-point effect can be smaller than the change from one random seed to the next, so a
# single pair of runs cannot tell. We train the compact model with and without SE on
# cluttered training images, once per seed, and compare the pair from each seed. To make the
# pair a real *paired* comparison, both models of a pair see the same images in the same
# order (`training.fit(..., seed=seed)`) and start from the same weights wherever their
# layers coincide: the SE model's convolutions, batch norms and classifier are copied from the
# plain model before training, so only the SE blocks start from their own initialisation.
# Both models keep their validation curves, so we can see whether SE's lead is a head start
# that the plain model closes as training converges, or a gain that stays.

# %% tags=["nbval-ignore-output"]
n_clutter = S["clutter_train"]
xc_train, yc_train = robustness.cluttered_set(
    split.x_train[:n_clutter], split.y_train[:n_clutter], seed=SEED + 10
)
xc_val, yc_val = robustness.cluttered_set(
    split.x_val[: S["clutter_val"]], split.y_val[: S["clutter_val"]], seed=SEED + 20
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
clutter_curves = {"compact_cnn": [], "compact_cnn_se": []}
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
        clutter_curves[name].append(np.array(history["val_accuracy"]) * 100)
        clutter_converged[name].append(
            claims.converged(history["val_accuracy"], len(yc_val))
        )
print(f"layers starting from the same weights in each pair: {', '.join(shared)}")
print(
    f"{len(xc_train):,} cluttered training images ({n_clutter:,} digits, two kinds of"
    f" clutter), {len(xc_val):,} validation and {len(xc_test):,} test images;"
    f" converged: {sum(clutter_converged['compact_cnn'])} of"
    f" {len(S['clutter_seeds'])} plain models and"
    f" {sum(clutter_converged['compact_cnn_se'])} of {len(S['clutter_seeds'])} with SE"
)

# %% tags=["nbval-ignore-output"]
per_epoch = np.array(clutter_curves["compact_cnn_se"]) - np.array(
    clutter_curves["compact_cnn"]
)  # (seeds, epochs), points on cluttered validation
epoch_axis = np.arange(1, per_epoch.shape[1] + 1)
step = 100 / len(yc_val)  # one validation image, in points
epoch_gain = [
    claims.paired_difference(
        np.array(clutter_curves["compact_cnn_se"])[:, e],
        np.array(clutter_curves["compact_cnn"])[:, e],
        resolution=step,
    )
    for e in range(per_epoch.shape[1])
]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
for name, color in (("compact_cnn", "C1"), ("compact_cnn_se", "C4")):
    curves = np.array(clutter_curves[name])
    ax1.plot(epoch_axis, curves.mean(axis=0), marker=".", color=color, label=name)
    for curve in curves:
        ax1.plot(epoch_axis, curve, color=color, lw=0.6, alpha=0.3)
ax1.set(
    xlabel="epoch",
    ylabel="cluttered validation accuracy (%)",
    title="Mean over seeds (thin: each seed)",
)
ax1.legend()
for row in per_epoch:
    ax2.plot(epoch_axis, row, color="gray", lw=0.6, alpha=0.5)
lows = [g.low if np.isfinite(g.low) else np.nan for g in epoch_gain]
highs = [g.high if np.isfinite(g.high) else np.nan for g in epoch_gain]
ax2.fill_between(epoch_axis, lows, highs, color="C4", alpha=0.2, label="95% interval")
ax2.plot(epoch_axis, per_epoch.mean(axis=0), marker="o", color="C4", label="mean")
ax2.axhline(0, color="black", lw=1)
ax2.set(
    xlabel="epoch",
    ylabel="SE minus plain (points)",
    title="SE's lead on cluttered validation, per epoch",
)
ax2.legend()
for ax in (ax1, ax2):
    ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
first, last = epoch_gain[0], epoch_gain[-1]


def decided(gain) -> str:
    if gain.too_few or not np.isfinite(gain.low):
        return "not decided: too few seeds"
    if gain.low > 0:
        return "SE ahead, the interval above 0"
    if gain.high < 0:
        return "SE behind, the interval below 0"
    return "no difference decided, the interval spans 0"


trend = (
    "shrinks" if last.estimate < first.estimate - step
    else "grows" if last.estimate > first.estimate + step
    else "holds"
)
print(
    "SE minus plain on cluttered validation:"
    f" {first.estimate:+.2f} points after epoch 1 ({decided(first)}),"
    f" {last.estimate:+.2f} after epoch {len(epoch_gain)} ({decided(last)}): the lead"
    f" {trend} as the models converge."
)

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
clean_diff = (
    clean_models_on_clutter["compact_cnn_se"] - clean_models_on_clutter["compact_cnn"]
)
display(
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
                f"trained on clean digits (seed {SEED})",
                f"{clean_models_on_clutter['compact_cnn']:.2f}",
                f"{clean_models_on_clutter['compact_cnn_se']:.2f}",
                f"{clean_diff:+.2f}",
            ],
        ],
    )
)
print(
    f"On cluttered test digits SE wins in {int(np.sum(diffs > 0))} of {n_seeds} seeds,"
    f" by {mean_diff:+.2f} points on average ({decided(se_gain)}; the article claims"
    " +0.7)."
)
clean_drop = {
    name: results[name]["test_acc"] * 100 - clean_models_on_clutter[name]
    for name in clean_models_on_clutter
}
print(
    "The last row is why the experiment trains on clutter: the models trained on clean"
    f" digits fall from {results['compact_cnn']['test_acc']:.2%} and"
    f" {results['compact_cnn_se']['test_acc']:.2%} on clean test digits to"
    f" {clean_models_on_clutter['compact_cnn']:.2f}% and"
    f" {clean_models_on_clutter['compact_cnn_se']:.2f}% on cluttered ones (plain, SE),"
    f" a change of {-clean_drop['compact_cnn']:+.0f} and"
    f" {-clean_drop['compact_cnn_se']:+.0f} points; one seed each, so their difference"
    " is no verdict on SE."
)

# %% [markdown]
# ## Claims check
#
# Every verdict below is computed from this run's numbers by the rules in the code. C1
# rests on LeNet-5's test accuracy over its seeds, each judged only if its curve converged;
# C3's accuracy part on the converged separable model, its speed part on the alternating
# timing rounds above.

# %% tags=["nbval-ignore-output"]
n_test = len(y_test)
lenet_params = results["lenet5"]["params"]
c1 = claims.judge(
    "C1",
    {
        "accuracy": lenet_acc.scaled(100),
        "parameters": claims.exact(lenet_params, 1, "Keras's count"),
    },
    converged={f"LeNet-5 (seed {seed})": ok for seed, ok in lenet_converged.items()},
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
lenet_factor = lenet.count_params() / lenet_sep.count_params()
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

display(claims_table([
    Claim(
        "C1",
        f"{lenet_acc.estimate:.2%} test, mean of {len(lenet_seed_acc)} seed(s) (95%"
        f" interval {lenet_acc.low:.2%} to {lenet_acc.high:.2%}) with"
        f" {lenet_params:,} parameters",
        c1,
        "LeCun's LeNet-5 shape with ReLU and average pooling, "
        f"{S['epochs_lenet']} epochs on {len(x_train):,} images per seed.",
    ),
    Claim(
        "C2",
        f"whole compact model: 1/{whole_factor:.1f}; its third stage alone: "
        f"1/{stage_factor:.1f}; LeNet-5: 1/{lenet_factor:.2f} (Keras's counts)",
        c2,
        "1/8 is the per-layer ratio 1/C_out + 1/k² for 3x3 kernels without biases;"
        " whole models keep their first convolution, batch norms and dense layer, which"
        " separable blocks do not touch.",
    ),
    Claim(
        "C3",
        f"{sep_acc.estimate:.2%} test (interval {sep_acc.low:.2%} to "
        f"{sep_acc.high:.2%}); {speedup.estimate:.2f}x the standard model's speed "
        f"(p50, one image, this CPU, {S['rounds']} alternating rounds; interval"
        f" {speedup.low:.2f}x to {speedup.high:.2f}x)",
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
        f" without SE trained on {len(xc_train):,} cluttered images for"
        f" {S['clutter_epochs']} epochs, same data order and shared initial weights"
        " within each pair.",
    ),
]))
if c1.verdict == claims.UNTESTABLE_BUDGET:
    rising = [seed for seed, ok in lenet_converged.items() if not ok]
    print(
        f"C1 waits for LeNet-5's seed(s) {', '.join(map(str, rising))}, still rising"
        f" after {S['epochs_lenet']} epochs: a run that trains them until the last"
        " quarter of the curve flattens (more epochs per seed, the same seeds) decides"
        " it."
    )
print(
    f"C1 is {c1.verdict}, C2 {c2.verdict}, C3 {c3.verdict} and C4 {c4.verdict}. This"
    f" chapter ran in {(time.perf_counter() - CHAPTER_START) / 60:.1f} minutes in the"
    f" {PROFILE} profile."
)

# %% [markdown]
# ## Exercises
#
# Solutions: `solutions/01_architectures_solutions.ipynb`.
#
# **Exercise 1.** Write `separable_params(k, c_in, c_out)`: the parameter count of a
# depthwise k x k convolution (with biases) followed by a 1x1 convolution to `c_out` channels
# (with biases), as Keras would count them, but without Keras: derive it from the shapes
# (the checker refuses `count_params` and Keras's layers, which would do the counting for
# you). Then compare it with a standard convolution's for k=3, c_in=c_out=256.


# %%
def separable_params(k: int, c_in: int, c_out: int) -> int:
    raise NotImplementedError


check.separable_params(separable_params)

# %% [markdown]
# **Exercise 2.** SE squeezes each channel to its *average*. CBAM's channel attention
# (Woo et al., 2018) squeezes twice, to the average and to the *maximum* of each channel,
# sends both through **one shared** bottleneck `Dense(max(4, C // ratio), relu)` ->
# `Dense(C)`, adds the two results, and only then applies the sigmoid that makes the gate.
# Write `my_channel_attention(x, ratio)`: it takes a Keras tensor `(H, W, C)` and returns
# the rescaled tensor. The checker tries it with C = 64 and ratio 8, compares your gate with
# that formula on inputs with a peak (where maximum and average differ), and refuses
# `models.se_block`. How many parameters does sharing the bottleneck save?


# %%
def my_channel_attention(x, ratio: int = 8):
    raise NotImplementedError


check.channel_attention(my_channel_attention)

# %% [markdown]
# **Exercise 3.** Design a model with at most 20,000 parameters that reaches 97% validation
# accuracy after 3 epochs on 20,000 training images with `training.fit`. Return logits (no
# softmax). The checker trains it, so it takes several seconds; it refuses
# `models.compact_cnn` itself. Which of this chapter's ideas let a model this small learn
# this fast?


# %%
def budget_model() -> keras.Model:
    raise NotImplementedError


check.budget_model(budget_model)
