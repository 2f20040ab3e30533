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
# # 07c · Multimodal fusion: the image and a (simulated) pen stream
#
# The article's last research direction adds "pen-pressure sensor data to the image". MNIST
# has no such data, and no public digit set with pen pressure can be fetched here, so this
# chapter **simulates** the second stream, says so everywhere it appears, and asks what
# fusion can and cannot show with it.
#
# **By the end of this chapter you will be able to**
#
# - build a second sensor stream from what a pen would record, and state what a simulation
#   can teach and what it cannot;
# - train image-only and sequence-only baselines, then early, late and gated fusion, under one
#   budget and over several seeds;
# - test every model with a stream missing, noisy or cut short, and with a corrupted image;
# - fix the brittleness that shows with *modality dropout*, and measure the fix.

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

from mnist_course.course.profile import (
    active_profile,
    import_tensorflow,
    seed_everything,
)

tf = import_tensorflow()  # TensorFlow, without its C++ start-up log lines
import keras
import matplotlib.pyplot as plt
import numpy as np
from keras import layers
from tqdm import tqdm

from mnist_course import corruptions, data, multimodal
from mnist_course.course import claims
from mnist_course.course.checks.ch07c import check
from mnist_course.course.claims import markdown_table

# %% tags=["parameters"]
PROFILE = "full"
SEED = 0
SIZES = {
    # n_train / n_val / n_test: images (and their pen streams); epochs and seeds per
    # model
    "quick": {"n_train": 1_500, "n_val": 500, "n_test": 1_000, "epochs": 1, "seeds": 1},
    "full": {
        "n_train": 20_000,
        "n_val": 2_000,
        "n_test": 10_000,
        "epochs": 3,
        "seeds": 3,
    },
}
N_POINTS = 64  # samples per pen stream
SENSOR_NOISE, SENSOR_DROPOUT = (
    0.01,
    0.02,
)  # the simulated sensor's ordinary imperfections
MODALITY_DROPOUT = 0.3  # share of training examples that lose one stream (the fix)
BATCH = 128

# %% tags=["nbval-ignore-output"]
PROFILE = active_profile(PROFILE)
S = SIZES[PROFILE]
seed_everything(SEED)
split = data.load_split()
parts = {
    "train": (split.x_train[: S["n_train"]], split.y_train[: S["n_train"]]),
    "val": (split.x_val[: S["n_val"]], split.y_val[: S["n_val"]]),
    "test": (split.x_test[: S["n_test"]], split.y_test[: S["n_test"]]),
}
start = time.perf_counter()
images = {k: data.to_model_input(x) for k, (x, _) in parts.items()}
pens = {
    k: multimodal.simulate(
        x, seed=SEED + i, n_points=N_POINTS, noise=SENSOR_NOISE, dropout=SENSOR_DROPOUT
    )
    for i, (k, (x, _)) in enumerate(parts.items())
}
labels = {k: y for k, (_, y) in parts.items()}
print(f"profile {PROFILE}: {S}")
print(
    f"simulated pen streams for {sum(len(y) for y in labels.values()):,} images in "
    f"{time.perf_counter() - start:.0f} s; shape of one: {pens['train'].shape[1:]} "
    f"(columns {multimodal.CHANNELS})"
)

# %% [markdown]
# ## The second stream, simulated
#
# `multimodal.simulate` turns each image into what a pen might have recorded (its docstring
# gives every step): the ink is thinned to a skeleton, the skeleton is walked as strokes from
# the top, the pen lifts between strokes, pressure follows the stroke's width, and the path is
# resampled to 64 points of `(x, y, pressure, pen_down)`. A sensor then adds a little noise
# and drops a few samples. Below: images, and their **simulated** traces (colour runs from the
# first point to the last; dot size is pressure; grey lines are pen-up moves).

# %%
fig, axes = plt.subplots(2, 8, figsize=(14, 3.8))
for i in range(8):
    axes[0, i].imshow(parts["train"][0][i], cmap="gray_r")
    axes[0, i].set(xticks=[], yticks=[], title=f"label {labels['train'][i]}")
    p = pens["train"][i]
    down = p[:, 3] > 0
    axes[1, i].plot(p[:, 0], p[:, 1], lw=0.5, color="lightgrey")
    axes[1, i].scatter(
        p[down, 0],
        p[down, 1],
        s=4 + 40 * p[down, 2],
        c=np.arange(N_POINTS)[down],
        cmap="viridis",
    )
    axes[1, i].set(xlim=(0, 1), ylim=(1, 0), xticks=[], yticks=[], aspect="equal")
axes[1, 0].set_ylabel("simulated\npen stream")
plt.show()

# %% [markdown]
# **What this simulation can teach, and what it cannot.** The pen stream is computed from the
# clean image. It therefore carries *no* information about which digit it is that the image
# lacks, and nothing about real writers (their stroke order, speed, pressure habits). What it
# does give is a second stream that fails **independently** of the image: a smudged scan with
# an intact pen record, or a dead sensor with a clean image. That is exactly where fusion
# earns its keep in practice, and it is what this chapter measures. A gain of fusion on clean
# data, if any, says little: both streams come from the same pixels.

# %% [markdown]
# ## Five models, one budget
#
# Two small encoders, each ending in 64 features:
#
# - the **image encoder**: two 3x3 convolutions with max pooling and a dense layer;
# - the **sequence encoder**: two 1-D convolutions over the 64 pen samples (kernel 5),
#   global max pooling and a dense layer.
#
# From them: **image only** and **sequence only** (an encoder and a 10-way head); **early
# fusion** (both feature vectors concatenated, then a shared head); **gated fusion** (a
# learned gate `g` in [0, 1] per example and feature mixes `g * image + (1 - g) * sequence`);
# and **late fusion**, which trains nothing: it averages the two single-stream models'
# probabilities (`multimodal.late_fusion`), with a weight chosen on validation.


# %%
def image_encoder(name="image_encoder"):
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(16, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
        ],
        name=name,
    )


def sequence_encoder(name="sequence_encoder"):
    return keras.Sequential(
        [
            keras.Input((N_POINTS, len(multimodal.CHANNELS))),
            layers.Conv1D(32, 5, padding="same", activation="relu"),
            layers.Conv1D(64, 5, padding="same", activation="relu"),
            layers.GlobalMaxPooling1D(),
            layers.Dense(64, activation="relu"),
        ],
        name=name,
    )


def build(kind: str) -> keras.Model:
    image_in = keras.Input((28, 28, 1), name="image")
    pen_in = keras.Input((N_POINTS, len(multimodal.CHANNELS)), name="pen")
    f_image, f_pen = image_encoder()(image_in), sequence_encoder()(pen_in)
    if kind == "image only":
        features = f_image
    elif kind == "sequence only":
        features = f_pen
    elif kind == "early fusion":
        features = layers.Dense(64, activation="relu")(
            layers.Concatenate()([f_image, f_pen])
        )
    elif kind == "gated fusion":
        gate = layers.Dense(1, activation="sigmoid", name="gate")(
            layers.Concatenate()([f_image, f_pen])
        )
        features = gate * f_image + (1 - gate) * f_pen
    else:
        raise ValueError(f"unknown model kind {kind!r}")
    outputs = layers.Dense(10, activation="softmax")(features)
    return keras.Model(
        {"image": image_in, "pen": pen_in}, outputs, name=kind.replace(" ", "_")
    )


for kind in ("image only", "sequence only", "early fusion", "gated fusion"):
    print(f"{kind:14s} {build(kind).count_params():7,} parameters")

# %% [markdown]
# Every model gets the same budget: `epochs` epochs over the same training images in the same
# order (seeded), Adam, batch 128. A model with *modality dropout* sees, in every epoch, a
# fresh `MODALITY_DROPOUT` share of examples with one stream blanked
# (`multimodal.modality_dropout`): half of them lose the image, half the pen stream, never both.


# %%
def train(kind: str, seed: int, dropout_rate: float = 0.0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = build(kind)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    rng = np.random.default_rng(seed)
    for _ in range(S["epochs"]):
        x_image, x_pen = multimodal.modality_dropout(
            images["train"], pens["train"], dropout_rate, rng
        )
        order = rng.permutation(len(x_image))
        model.fit(
            {"image": x_image[order], "pen": x_pen[order]},
            labels["train"][order],
            batch_size=BATCH,
            epochs=1,
            verbose=0,
            shuffle=False,
        )
    return model


def predict(model, x_image, x_pen):
    """Class probabilities, 2,000 examples at a time (a direct call: no per-model
    set-up)."""
    return np.concatenate([
        model(
            {"image": x_image[i : i + 2000], "pen": x_pen[i : i + 2000]}, training=False
        ).numpy()
        for i in range(0, len(x_image), 2000)
    ])


# %% [markdown]
# ## Training, several seeds
#
# Six trained models per seed: the four kinds above, and early and gated fusion again with
# modality dropout.

# %% tags=["nbval-ignore-output"]
TRAINED = [
    ("image only", 0.0),
    ("sequence only", 0.0),
    ("early fusion", 0.0),
    ("gated fusion", 0.0),
    ("early fusion", MODALITY_DROPOUT),
    ("gated fusion", MODALITY_DROPOUT),
]
seeds = [SEED + k for k in range(S["seeds"])]
models = {}
start = time.perf_counter()
with tqdm(total=len(TRAINED) * len(seeds), desc="models") as bar:
    for seed in seeds:
        for kind, rate in TRAINED:
            models[kind, rate, seed] = train(kind, seed, rate)
            bar.update()
print(f"{len(models)} models in {time.perf_counter() - start:.0f} s")

# %% [markdown]
# Late fusion's weight: the share of the image model's probabilities, chosen on the
# *validation* images from a grid, per seed. The test images are not used to choose it.

# %% tags=["nbval-ignore-output"]
WEIGHTS = np.linspace(0, 1, 11)
late_weight = {}
for seed in seeds:
    p_image = predict(models["image only", 0.0, seed], images["val"], pens["val"])
    p_pen = predict(models["sequence only", 0.0, seed], images["val"], pens["val"])
    accuracy = [
        (multimodal.late_fusion(p_image, p_pen, w).argmax(1) == labels["val"]).mean()
        for w in WEIGHTS
    ]
    late_weight[seed] = float(WEIGHTS[int(np.argmax(accuracy))])
print("late fusion's weight on the image, per seed:", late_weight)

# %% [markdown]
# ## Clean test data, and every way a stream can fail
#
# The test conditions (each applied to the test images or their pen streams):
#
# - **clean**: both streams as recorded;
# - **pen absent**: the pen stream all zeros (a sensor that never connected);
# - **pen noisy**: sensor noise 0.1 instead of 0.01 (ten times worse), 20% of samples lost;
# - **pen cut short**: only the first half of the stream, the rest zeros;
# - **image corrupted**: chapter 05's MNIST-C-style corruptions `impulse_noise`, `fog` and
#   `zigzag`, averaged;
# - **image absent**: the image all zeros (a camera that failed).

# %% tags=["nbval-ignore-output"]
rng_test = np.random.default_rng(SEED + 99)
x_test, pen_test, y_test = images["test"], pens["test"], labels["test"]
truncated = pen_test.copy()
truncated[:, N_POINTS // 2 :] = 0
CORRUPTIONS = ("impulse_noise", "fog", "zigzag")
corrupted = [
    data.to_model_input(corruptions.corrupt(parts["test"][0], kind, seed=SEED))
    for kind in CORRUPTIONS
]
CONDITIONS = {
    "clean": [(x_test, pen_test)],
    "pen absent": [(x_test, np.zeros_like(pen_test))],
    "pen noisy": [(x_test, multimodal.sensor(pen_test, 0.1, 0.2, rng_test))],
    "pen cut short": [(x_test, truncated)],
    "image corrupted": [(x, pen_test) for x in corrupted],
    "image absent": [(np.zeros_like(x_test), pen_test)],
}


def scores(model_or_pair, seed):
    """Accuracy under every condition; ``model_or_pair`` is a model or "late fusion"."""
    out = {}
    for condition, inputs in CONDITIONS.items():
        accuracies = []
        for x_image, x_pen in inputs:
            if model_or_pair == "late fusion":
                p = multimodal.late_fusion(
                    cached(models["image only", 0.0, seed], x_image, x_pen),
                    cached(models["sequence only", 0.0, seed], x_image, x_pen),
                    late_weight[seed],
                )
            else:
                p = cached(model_or_pair, x_image, x_pen)
            accuracies.append((p.argmax(1) == y_test).mean())
        out[condition] = 100 * float(np.mean(accuracies))
    return out


_cache = {}


def cached(model, x_image, x_pen):
    """A model's predictions on one pair of inputs, computed once (late fusion reuses
    the
    single-stream models' predictions)."""
    key = (id(model), id(x_image), id(x_pen))
    if key not in _cache:
        _cache[key] = predict(model, x_image, x_pen)
    return _cache[key]


ROWS = [
    ("image only", 0.0),
    ("sequence only", 0.0),
    ("late fusion", 0.0),
    ("early fusion", 0.0),
    ("gated fusion", 0.0),
    ("early fusion", MODALITY_DROPOUT),
    ("gated fusion", MODALITY_DROPOUT),
]


def row_name(kind, rate):
    return kind + (" + modality dropout" if rate else "")


start = time.perf_counter()
results = {}  # (row name, seed) -> {condition: accuracy %}
for seed in seeds:
    for kind, rate in ROWS:
        results[row_name(kind, rate), seed] = scores(
            "late fusion" if kind == "late fusion" else models[kind, rate, seed], seed
        )
print(f"evaluated in {time.perf_counter() - start:.0f} s")


# %% tags=["nbval-ignore-output"]
def cell(name, condition):
    # accuracies in %, kept inside 0-100 (a t-interval on the logit scale)
    m = claims.accuracy_over_seeds(
        [results[name, seed][condition] / 100 for seed in seeds], len(y_test)
    ).scaled(100)
    return f"{m.estimate:.1f} ({m.low:.1f} to {m.high:.1f})"


markdown_table(
    ["model"] + [f"{c}, %" for c in CONDITIONS],
    [[row_name(k, r)] + [cell(row_name(k, r), c) for c in CONDITIONS] for k, r in ROWS],
)

# %% [markdown]
# Each cell: test accuracy, mean over the seeds with a 95% t-interval. Things to read in it:
#
# - the **clean** column: does fusion beat the better single stream at all, when both
#   streams come from the same pixels?
# - the **pen absent** and **image absent** columns: a fusion model trained only on complete
#   pairs may lean on one stream so hard that losing it costs more than never having had the
#   other. Late fusion and modality dropout are the two remedies to compare there;
# - the **image corrupted** column: the case for fusion, since the pen stream did not see the
#   corruption.

# %% tags=["nbval-ignore-output"]
fig, ax = plt.subplots(figsize=(11, 4))
width = 0.8 / len(ROWS)
for i, (kind, rate) in enumerate(ROWS):
    name = row_name(kind, rate)
    means = [np.mean([results[name, s][c] for s in seeds]) for c in CONDITIONS]
    ax.bar(np.arange(len(CONDITIONS)) + i * width, means, width, label=name)
ax.set(
    xticks=np.arange(len(CONDITIONS)) + 0.4 - width / 2,
    xticklabels=list(CONDITIONS),
    ylabel="test accuracy, %",
    ylim=(0, 100),
    title="every model under every condition (mean over seeds; pen stream simulated)",
)
ax.legend(fontsize=7, ncol=4, loc="lower center")
plt.show()

# %% [markdown]
# ## Modality dropout, measured
#
# What dropout during training bought, paired by seed (the same initial weights and the same
# order of training images, so the comparison is paired), in the conditions where a stream
# is missing and on clean data (where it might cost something):

# %% tags=["nbval-ignore-output"]
rows = []
for kind in ("early fusion", "gated fusion"):
    for condition in ("clean", "pen absent", "image absent", "image corrupted"):
        d = claims.paired_difference(
            [results[row_name(kind, MODALITY_DROPOUT), s][condition] for s in seeds],
            [results[kind, s][condition] for s in seeds],
            resolution=100 / len(y_test),
        )
        rows.append(
            [kind, condition, f"{d.estimate:+.1f} ({d.low:+.1f} to {d.high:+.1f})"]
        )
markdown_table(
    [
        "model",
        "condition",
        "with minus without modality dropout, points (95% interval, paired seeds)",
    ],
    rows,
)

# %% [markdown]
# ## Exercises
#
# Solutions: `solutions/07c_multimodal_fusion_solutions.ipynb`.
#
# **Exercise 1.** Write late fusion: `late_fusion(p_image, p_sequence, weight)`, the
# weighted mean `weight * p_image + (1 - weight) * p_sequence` of two models' class
# probabilities (arrays `(n, 10)`), refusing a weight outside [0, 1] with `ValueError`.


# %%
def late_fusion(
    p_image: np.ndarray, p_sequence: np.ndarray, weight: float
) -> np.ndarray:
    raise NotImplementedError


check.late_fusion(late_fusion)

# %% [markdown]
# **Exercise 2.** Write modality dropout: `modality_dropout(images, sequences, rate, rng)`
# returns *copies* of both arrays in which a random `rate` share of the examples lose one
# modality (set to zeros), about half of them the image and half the sequence, never both;
# all randomness from `rng`.


# %%
def modality_dropout(
    images: np.ndarray, sequences: np.ndarray, rate: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    raise NotImplementedError


check.modality_dropout(modality_dropout)

# %% [markdown]
# **Exercise 3.** Find where fusion stops helping. Given pen-stream noise levels (sorted)
# and, for each, the accuracies of a fusion model and of the image-only model over the same
# seeds (arrays `(n_seeds, n_levels)`, paired by seed), write `first_level_without_gain(levels,
# fused, alone)`: the first level at which the 95% t-interval of the paired difference
# `fused - alone` is no longer entirely above zero (`scipy.stats.t`), or `None` if fusion
# helps at every level. The cell after it sweeps the pen noise on this chapter's models.


# %%
def first_level_without_gain(levels, fused: np.ndarray, alone: np.ndarray):
    raise NotImplementedError


result = check.first_level_without_gain(first_level_without_gain)

# %% tags=["nbval-ignore-output"]
if result.passed:
    levels = [0.0, 0.05, 0.1, 0.2, 0.4]
    sweep_rng = np.random.default_rng(SEED + 7)
    noisy_pens = [
        multimodal.sensor(pen_test, noise, SENSOR_DROPOUT, sweep_rng)
        for noise in levels
    ]
    corrupted_image = corrupted[0]  # a smudged scan: where fusion can help at all

    def sweep(name, seed):
        model = models[name, 0.0, seed]
        return [
            100 * (predict(model, corrupted_image, p).argmax(1) == y_test).mean()
            for p in noisy_pens
        ]

    fused = np.array([sweep("gated fusion", s) for s in seeds])
    alone = np.array([sweep("image only", s) for s in seeds])
    level = first_level_without_gain(levels, fused, alone)
    for lv, f, a in zip(levels, fused.mean(0), alone.mean(0)):
        print(
            f"pen noise {lv:.2f}: gated fusion {f:.1f}%, image only {a:.1f}% "
            f"(image with {CORRUPTIONS[0]})"
        )
    print(
        "fusion stops helping at pen noise",
        level if level is not None else "- not within the levels tried",
    )
else:
    print("Complete exercise 3 to sweep the pen noise.")
