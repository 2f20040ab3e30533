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
# # 06 · Troubleshooting: overfitting, imbalance, faster inference, and common failures
#
# The article's troubleshooting section names three problems and their fixes: overfitting
# (L2 with λ = 0.001, Dropout 0.3, early stopping with patience 5), class imbalance
# (`compute_class_weight('balanced')` passed as `class_weight`), and real-time inference
# (TensorRT on NVIDIA GPUs, OpenVINO on Intel CPUs, pruning "connections with weight below
# 0.01"). This chapter provokes each problem, applies each fix, and measures what it buys;
# then it reproduces the failures learners actually hit with MNIST and Keras, each with a
# small diagnostic from `mnist_course.diagnostics` that you can run on your own model.
#
# **By the end of this chapter you will be able to**
#
# - provoke overfitting and compare remedies by their generalisation gap, over seeds;
# - build a long-tailed training set and correct it with class weights or oversampling,
#   judged by balanced metrics;
# - prune a Keras 3 model by tfmot's rules without tfmot, and see what pruning does and does
#   not buy on a CPU;
# - run one model on TensorFlow, LiteRT, ONNX Runtime and OpenVINO, and check that they agree;
# - diagnose a stuck, exploding or mysteriously bad training run from its symptoms.

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
import gzip
import tempfile
import time
import warnings
from pathlib import Path

CHAPTER_START = time.perf_counter()  # the claims cell prints this run's time

from mnist_course.course.profile import (
    active_profile,
    describe_machine,
    import_tensorflow,
    seed_everything,
)

tf = import_tensorflow()  # TensorFlow, without its C++ start-up log lines
import keras
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import display
from keras import layers
from sklearn.metrics import balanced_accuracy_score, f1_score, recall_score
from sklearn.utils.class_weight import compute_class_weight
from tqdm import tqdm

from mnist_course import (
    data,
    diagnostics,
    export,
    inference_runtimes,
    measure,
    pruning,
    training,
)
from mnist_course.course import claims
from mnist_course.course.checks.ch06 import check
from mnist_course.course.claims import Claim, claims_table, markdown_table

# %% tags=["parameters"]
PROFILE = "full"
SEED = 0
SIZES = {
    # overfit_n: training images for the overfitting study (epochs, at most);
    # treatments: how many of them run (None: all; quick runs the four the claims check
    # reads); seeds: repeats of every treatment; imbalance_n: images for the imbalance
    # study (epochs); base_n: images for the model that is pruned and exported (epochs);
    # runs: timed single-image calls (per round); rounds: alternating rounds of the
    # pruning timing; lab_n: images in the lab of section 6; timing_pairs: plain and
    # built-first fits timed there; bn_checkpoints: training steps after which the
    # batch-norm diagnostic is read on the compact CNN
    "quick": {
        "overfit_n": 300,
        "overfit_epochs": 1,
        "treatments": 4,
        "seeds": 1,
        "imbalance_n": 1_000,
        "imbalance_epochs": 1,
        "base_n": 600,
        "base_epochs": 1,
        "runs": 20,
        "rounds": 3,
        "lab_n": 320,
        "bn_checkpoints": (2, 5),
        "timing_pairs": 2,
        "n_val": 500,
        "n_test": 1_000,
        "sparsities": (0.9,),
        "prune_epochs": 2,
        "ramp_epochs": 1,
    },
    "full": {
        "overfit_n": 1_000,
        "overfit_epochs": 36,
        "treatments": None,
        "seeds": 5,
        "imbalance_n": 6_000,
        "imbalance_epochs": 3,
        "base_n": 20_000,
        "base_epochs": 3,
        "runs": 300,
        "rounds": 10,
        "lab_n": 2_000,
        "bn_checkpoints": (10, 25, 50, 100, 200, 400),
        "timing_pairs": 5,
        "n_val": 2_000,
        "n_test": None,
        "sparsities": (0.5, 0.75, 0.9, 0.95),
        "prune_epochs": 3,
        "ramp_epochs": 2,
    },
}
RARE = (3, 5, 8)  # the digits made rare in the long-tailed set
RARE_SHARE = 0.02  # ... kept at 2% of their count

# %% tags=["nbval-ignore-output"]
PROFILE = active_profile(PROFILE)
S = SIZES[PROFILE]
SPARSITIES = S["sparsities"]
seed_everything(SEED)
split = data.load_split()
x_train, y_train = data.to_model_input(split.x_train), split.y_train
x_val, y_val = data.to_model_input(split.x_val[: S["n_val"]]), split.y_val[: S["n_val"]]
x_test, y_test = (
    data.to_model_input(split.x_test[: S["n_test"]]),
    split.y_test[: S["n_test"]],
)
seeds = [SEED + k for k in range(S["seeds"])]
here = describe_machine()
print(f"profile {PROFILE}: {S}\nmachine: {here}")

# %% [markdown]
# ## 1 · Overfitting, provoked and cured
#
# A network with far more weights than examples memorises them: train accuracy runs to 100%
# while validation accuracy stalls. To provoke it, a small CNN (two convolutions and a dense
# layer of 128) trains on only `overfit_n` images for up to `overfit_epochs` epochs. Then the
# same with each of the article's remedies, chapter 03's augmentation, and all of them
# together. Every treatment of a seed starts from the same initial weights and sees the same
# order of images (`training.batches`), so the comparisons are paired.
#
# Early stopping *selects* an epoch on the validation images it watches; a gap measured on
# those same images would flatter it. So the validation split is cut in two: `fit` watches
# the first half (the curves, early stopping), and the gap, the table's validation column
# and every comparison use the second half, which no treatment has seen. Test accuracy is
# reported once, for the table. A run counts as converged when its watched curve is flat by
# the course's measure (`claims.converged`) or when early stopping fired: then its own rule,
# not the budget, ended it.
#
# Every model in this chapter goes through `training.build_for_fit` before it trains (as
# every model that `training.fit` trains does): it creates the optimiser's and the metrics'
# variables first, so Keras traces the training step once instead of twice. The training is
# the same; the lab in section 6 measures what it saves.


# %% tags=["nbval-ignore-output"]
def small_cnn(
    l2: float = 0.0, dropout: float = 0.0, name: str = "small_cnn"
) -> keras.Model:
    regulariser = keras.regularizers.L2(l2) if l2 else None
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            layers.Conv2D(32, 3, activation="relu", kernel_regularizer=regulariser),
            layers.MaxPooling2D(),
            layers.Conv2D(64, 3, activation="relu", kernel_regularizer=regulariser),
            layers.MaxPooling2D(),
            layers.Flatten(),
            layers.Dense(128, activation="relu", kernel_regularizer=regulariser),
            layers.Dropout(dropout),
            layers.Dense(10, activation="softmax"),
        ],
        name=name,
    )


TREATMENTS = {  # name -> (L2, dropout, early stopping, augmentation)
    "none": (0.0, 0.0, False, False),
    "L2 0.001": (1e-3, 0.0, False, False),
    "dropout 0.3": (0.0, 0.3, False, False),
    "early stopping (patience 5)": (0.0, 0.0, True, False),
    "augmentation (chapter 03)": (0.0, 0.0, False, True),
    "all combined": (1e-3, 0.3, True, True),
}
TREATMENTS = dict(list(TREATMENTS.items())[: S["treatments"]])


def run_treatment(name: str, seed: int):
    l2, dropout, early, augment = TREATMENTS[name]
    keras.utils.set_random_seed(seed)  # the same initial weights for every treatment
    model = small_cnn(l2, dropout)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    x, y = x_train[: S["overfit_n"]], y_train[: S["overfit_n"]]
    training.build_for_fit(model, x, y)
    # fit watches the first half of the validation split; the second half reports
    callbacks = (
        [
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", patience=5, restore_best_weights=True
            )
        ]
        if early
        else []
    )
    policy = training.augmentation_policy(seed=seed) if augment else None
    history = model.fit(
        training.batches(x, y, 64, seed, policy),
        epochs=S["overfit_epochs"],
        validation_data=(x_watch, y_watch),
        callbacks=callbacks,
        verbose=0,
        shuffle=False,
    )  # training.batches shuffles, with the seed
    # accuracies measured in inference mode (no dropout, no augmentation); validation on
    # the half that neither early stopping nor anything else looked at
    train_acc = measure.accuracy(model, x, y)
    val_acc = measure.accuracy(model, x_report, y_report)
    return history.history, {
        "train": 100 * train_acc,
        "val": 100 * val_acc,
        "gap": 100 * (train_acc - val_acc),
        "epochs": len(history.history["loss"]),
        "model": model,
    }


half = len(y_val) // 2
x_watch, y_watch = x_val[:half], y_val[:half]  # fit watches these (early stopping)
x_report, y_report = x_val[half:], y_val[half:]  # the gap and comparisons use these
start = time.perf_counter()
overfit = {}
with tqdm(total=len(TREATMENTS) * len(seeds), desc="treatments x seeds") as bar:
    for seed in seeds:
        for name in TREATMENTS:
            overfit[name, seed] = run_treatment(name, seed)
            bar.update()
print(f"{len(overfit)} runs in {time.perf_counter() - start:.0f} s")

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(
    2, len(TREATMENTS), figsize=(17, 5.6), sharey="row", squeeze=False
)
for top, bottom, name in zip(axes[0], axes[1], TREATMENTS):
    h = overfit[name, SEED][0]
    top.plot(h["accuracy"], label="train (as fit reports it)")
    top.plot(h["val_accuracy"], label="validation (watched half)")
    top.set(title=name)
    bottom.plot(h["loss"], label="train")
    bottom.plot(h["val_loss"], label="validation (watched half)")
    bottom.set(xlabel="epoch")
axes[0][0].set_ylabel("accuracy")
axes[1][0].set_ylabel("loss")
axes[0][0].legend(fontsize=7)
fig.suptitle(f"learning curves, {S['overfit_n']} training images, seed {SEED}", y=1.02)
plt.show()
h = overfit["none", SEED][0]
low = int(np.argmin(h["val_loss"]))
print(
    f"Without a remedy the validation loss is lowest at epoch {low + 1}"
    f" ({h['val_loss'][low]:.3f}) and ends at {h['val_loss'][-1]:.3f}, while validation"
    f" accuracy moves from {100 * h['val_accuracy'][low]:.1f}% to"
    f" {100 * h['val_accuracy'][-1]:.1f}%: "
    + (
        "the loss shows the overfitting (the model grows confidently wrong on the"
        " digits"
        " it misses) that the accuracy curve hides."
        if h["val_loss"][-1] > 1.1 * h["val_loss"][low]
        else "the loss has not risen by a tenth from its lowest, so the curves show no"
        " overfitting in this run."
    )
)

# %% [markdown]
# The table: training and validation accuracy (the unwatched half) measured the same way
# (inference mode, no dropout, no augmentation), the generalisation gap between them, and
# test accuracy. The test set is touched once per model, only for this table. Read the gap
# beside the accuracies: a remedy that lowers training accuracy shrinks the gap without
# helping anyone, and only validation and test accuracy tell the two apart.

# %% tags=["nbval-ignore-output"]
for _, r in overfit.values():
    r["test"] = 100 * measure.accuracy(r["model"], x_test, y_test)


def run_converged(name: str, seed: int) -> bool:
    """Early stopping that fired ended the run by its own rule (no better validation
    accuracy for its patience), before the budget did; a run that used every epoch is
    judged by the course's measure on the validation half it watched."""
    history, result = overfit[name, seed]
    if TREATMENTS[name][2] and result["epochs"] < S["overfit_epochs"]:
        return True
    return claims.converged(history["val_accuracy"], len(y_watch))


def interval_text(values, bounds=(-100, 100)):
    # accuracies in points; equal values differ by less than one validation image. A
    # t-interval knows nothing of 100%: the printed ends are clipped to what can happen.
    m = claims.t_interval(values, resolution=100 / len(y_report))
    low, high = max(m.low, bounds[0]), min(m.high, bounds[1])
    return f"{m.estimate:.1f} ({low:.1f} to {high:.1f})"


display(markdown_table(
    [
        "treatment",
        "train, %",
        "validation, %",
        "gap, points",
        "test, %",
        "epochs run",
        "converged",
    ],
    [
        [name]
        + [
            interval_text([overfit[name, s][1][k] for s in seeds],
                          (-100, 100) if k == "gap" else (0, 100))
            for k in ("train", "val", "gap", "test")
        ]
        + [", ".join(str(overfit[name, s][1]["epochs"]) for s in seeds)]
        + [f"{sum(run_converged(name, s) for s in seeds)} of {len(seeds)}"]
        for name in TREATMENTS
    ],
))
mean_of = {
    name: {k: np.mean([overfit[name, s][1][k] for s in seeds]) for k in ("gap", "test")}
    for name in TREATMENTS
}
top_test = max(mean_of, key=lambda n: mean_of[n]["test"])
n_converged = sum(run_converged(n, s) for n in TREATMENTS for s in seeds)
print(
    f"With no remedy, training accuracy runs {mean_of['none']['gap']:.1f} points above"
    f" validation (mean of {len(seeds)} seeds) and test accuracy is"
    f" {mean_of['none']['test']:.1f}%. The highest test accuracy is {top_test}'s"
    f" ({mean_of[top_test]['test']:.1f}%, a gap of {mean_of[top_test]['gap']:.1f}"
    " points); the comparisons below say which differences are beyond seed noise."
    f" {n_converged} of {len(overfit)} runs converged (an early stop that fired ended"
    " its run by its own rule; every other run is judged on the curve of the half it"
    " watched)."
)

# %% [markdown]
# Which remedy buys the most here? Paired differences from `none` in the gap and in
# validation accuracy (negative gap change = less overfitting), computed below; the best
# remedy is chosen on validation, and its test accuracy reported beside it. Read them with
# the learning curves: on a thousand images, augmentation creates new training examples,
# while L2 and dropout only make the memorising harder, and early stopping only picks the
# epoch.

# %% tags=["nbval-ignore-output"]
remedy = {}
for name in list(TREATMENTS)[1:]:
    gap = claims.paired_difference(
        [overfit[name, s][1]["gap"] for s in seeds],
        [overfit["none", s][1]["gap"] for s in seeds],
        resolution=100 / len(y_report),
    )
    val = claims.paired_difference(
        [overfit[name, s][1]["val"] for s in seeds],
        [overfit["none", s][1]["val"] for s in seeds],
        resolution=100 / len(y_report),
    )
    test = claims.paired_difference(
        [overfit[name, s][1]["test"] for s in seeds],
        [overfit["none", s][1]["test"] for s in seeds],
        resolution=100 / len(y_test),
    )
    remedy[name] = (gap, val, test)
best = max(remedy, key=lambda n: remedy[n][1].estimate)  # chosen on validation
display(markdown_table(
    [
        "treatment",
        "gap change, points (95% interval)",
        "validation change, points (95% interval)",
        "test change, points (95% interval)",
    ],
    [
        [n]
        + [f"{d.estimate:+.1f} ({d.low:+.1f} to {d.high:+.1f})" for d in diffs]
        for n, diffs in remedy.items()
    ],
))
smallest_gap = min(remedy, key=lambda n: remedy[n][0].estimate)
print(
    f"Chosen on validation, the best remedy is {best}"
    f" ({remedy[best][1].estimate:+.1f} points of validation accuracy against none);"
    f" on test, where it was not chosen, it moves accuracy by"
    f" {remedy[best][2].estimate:+.1f} points ({remedy[best][2].low:+.1f} to"
    f" {remedy[best][2].high:+.1f}). "
    + (
        f"The largest cut in the gap is {smallest_gap}'s"
        f" ({remedy[smallest_gap][0].estimate:+.1f} points), with test accuracy"
        f" {remedy[smallest_gap][2].estimate:+.1f} points: "
        + (
            "a smaller gap and better accuracy, a real cure."
            if remedy[smallest_gap][2].low > 0
            else "a smaller gap without a test gain beyond noise, which is what"
            " under-fitting looks like as much as a cure."
        )
        if remedy[smallest_gap][0].estimate < 0
        else "No remedy made the gap smaller on average."
    )
)

# %% [markdown]
# ## 2 · Class imbalance, provoked and cured
#
# MNIST's own imbalance is mild (chapter 00 measured it). To see what the fix is for, the
# digits `RARE` are cut to `RARE_SHARE` of their count in a training subset, leaving a long
# tail. Three ways to train on it:
#
# - **no correction**;
# - **class weights**: `compute_class_weight("balanced", ...)` (each class weighted
#   `n / (classes * count)`) passed to `fit` as `class_weight`;
# - **oversampling**: a `tf.data` pipeline that draws every class equally often
#   (`tf.data.Dataset.sample_from_datasets`), so rare images are repeated.
#
# Plain accuracy hides the damage: the rare digits are few in the test set too. The balanced
# metrics weight every class equally: **balanced accuracy** (the mean of per-class recalls)
# and **macro-F1**; and the rare digits' own recall.

# %% tags=["nbval-ignore-output"]
rng = np.random.default_rng(SEED)
pool = rng.permutation(len(y_train))[: S["imbalance_n"]]
keep = np.concatenate([
    pool[y_train[pool] == c][
        : max(2, int(RARE_SHARE * (y_train[pool] == c).sum())) if c in RARE else None
    ]
    for c in range(10)
])
x_tail, y_tail = x_train[keep], y_train[keep]
counts = np.bincount(y_tail, minlength=10)
weights = compute_class_weight("balanced", classes=np.arange(10), y=y_tail)
display(markdown_table(
    ["digit"] + list(range(10)),
    [
        ["images in the long-tailed set"] + counts.tolist(),
        ["balanced class weight"] + [f"{w:.2f}" for w in weights],
    ],
))
rare, common = counts.argmin(), counts.argmax()
print(
    f"Digit {rare} keeps {counts[rare]:,} images and digit {common} {counts[common]:,}"
    f" ({counts[common] / counts[rare]:.0f}x as many); 'balanced' weighs each image by"
    f" the inverse of its class's share, so an image of {rare} counts"
    f" {weights[rare] / weights[common]:.0f}x one of {common} in the loss, the same"
    " ratio: every class then pulls on the weights with the same total force."
)


# %% tags=["nbval-ignore-output"]
def oversampled(x, y, seed, batch=128):
    """Every class drawn equally often, rare images repeated; endless, so fit needs
    steps_per_epoch."""
    per_class = [
        tf.data.Dataset.from_tensor_slices((x[y == c], y[y == c]))
        .shuffle(int((y == c).sum()), seed=seed)
        .repeat()
        for c in np.unique(y)
    ]
    return tf.data.Dataset.sample_from_datasets(per_class, seed=seed).batch(batch)


def train_imbalanced(x, y, method: str, seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = small_cnn()
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    training.build_for_fit(model, x, y)
    epochs = S["imbalance_epochs"]
    if method == "oversampling":
        model.fit(
            oversampled(x, y, seed),
            steps_per_epoch=len(y) // 128 + 1,
            epochs=epochs,
            verbose=0,
            shuffle=False,
        )
    else:
        class_weight = None
        if method == "class weights":
            w = compute_class_weight("balanced", classes=np.unique(y), y=y)
            class_weight = dict(zip(np.unique(y).tolist(), w))
        model.fit(
            training.batches(x, y, 128, seed),
            epochs=epochs,
            class_weight=class_weight,
            verbose=0,
            shuffle=False,
        )
    return model


def balanced_scores(model):
    predicted = model.predict(x_test, batch_size=1000, verbose=0).argmax(axis=1)
    recall = recall_score(y_test, predicted, average=None, labels=range(10))
    return {
        "accuracy": 100 * (predicted == y_test).mean(),
        "balanced accuracy": 100 * balanced_accuracy_score(y_test, predicted),
        "macro-F1": 100 * f1_score(y_test, predicted, average="macro"),
        "rare digits' recall": 100 * recall[list(RARE)].mean(),
    }


METHODS = ("no correction", "class weights", "oversampling")
start = time.perf_counter()
imbalance = {
    (m, s): balanced_scores(train_imbalanced(x_tail, y_tail, m, s))
    for s in tqdm(seeds, desc="seeds")
    for m in METHODS
}
print(f"{len(imbalance)} runs in {time.perf_counter() - start:.0f} s")
METRICS = list(imbalance[METHODS[0], SEED])
display(markdown_table(
    ["method"] + [f"{k}, %" for k in METRICS],
    [
        [m]
        + [
            interval_text([imbalance[m, s][k] for s in seeds], (0, 100))
            for k in METRICS
        ]
        for m in METHODS
    ],
))
rare_recall = {
    m: np.mean([imbalance[m, s]["rare digits' recall"] for s in seeds]) for m in METHODS
}
plain_acc = {m: np.mean([imbalance[m, s]["accuracy"] for s in seeds]) for m in METHODS}
print(
    f"On the long-tailed set the rare digits {RARE} are recalled"
    f" {rare_recall['no correction']:.1f}% of the time without a correction,"
    f" {rare_recall['class weights']:.1f}% with class weights and"
    f" {rare_recall['oversampling']:.1f}% with oversampling (test, mean of"
    f" {len(seeds)} seeds); plain accuracy moves from"
    f" {plain_acc['no correction']:.1f}% to {plain_acc['class weights']:.1f}% and"
    f" {plain_acc['oversampling']:.1f}%: "
    + (
        "the rare digits' gain costs some of the common digits' accuracy."
        if min(plain_acc["class weights"], plain_acc["oversampling"])
        < plain_acc["no correction"]
        else "overall accuracy rises too, because on the test digits (balanced, unlike"
        " the training set) the rare digits are a tenth of the images each."
    )
    if min(rare_recall["class weights"], rare_recall["oversampling"])
    > rare_recall["no correction"]
    else f"On the long-tailed set the corrections did not raise the rare digits'"
    f" recall on average (no correction {rare_recall['no correction']:.1f}%, class"
    f" weights {rare_recall['class weights']:.1f}%, oversampling"
    f" {rare_recall['oversampling']:.1f}%)."
)

# %% [markdown]
# And on the real, mildly imbalanced MNIST (a subset of the same size, no digit cut): do
# class weights change anything measurable?

# %% tags=["nbval-ignore-output"]
natural = pool
real = {
    (m, s): balanced_scores(train_imbalanced(x_train[natural], y_train[natural], m, s))
    for s in tqdm(seeds, desc="seeds")
    for m in ("no correction", "class weights")
}
real_diff = claims.paired_difference(
    [real["class weights", s]["balanced accuracy"] for s in seeds],
    [real["no correction", s]["balanced accuracy"] for s in seeds],
    resolution=100 / len(y_test),
)
tail_diff = {
    m: claims.paired_difference(
        [imbalance[m, s]["balanced accuracy"] for s in seeds],
        [imbalance["no correction", s]["balanced accuracy"] for s in seeds],
        resolution=100 / len(y_test),
    )
    for m in ("class weights", "oversampling")
}
print(
    "real MNIST subset, class weights minus none, balanced accuracy:"
    f" {real_diff.estimate:+.2f} points ({real_diff.low:+.2f} to"
    f" {real_diff.high:+.2f}); class counts from {np.bincount(y_train[natural]).min()}"
    f" to {np.bincount(y_train[natural]).max()}"
)
for m, d in tail_diff.items():
    print(
        f"long-tailed set, {m} minus none, balanced accuracy: {d.estimate:+.2f} points "
        f"({d.low:+.2f} to {d.high:+.2f})"
    )

# %% [markdown]
# ## 3 · Pruning in Keras 3
#
# `tensorflow-model-optimization` (tfmot) is the usual pruning library, but it wraps Keras 2
# layers: it needs the separate `tf_keras` package (Keras 2 kept alive for TensorFlow), and
# refuses Keras 3 models. Using it would mean a second Keras in the course, models that do
# not load in the first, and a library pinned to the old API. Keras 3 itself has no pruning
# API. tfmot's rules, though, are short (`mnist_course.pruning`'s docstring lists them), so
# the course follows them in a Keras 3 callback, `pruning.MagnitudePruning`. Its heart is a
# per-tensor magnitude mask, recomputed every `frequency` steps at the schedule's current
# target and applied after every batch. Read from the package as it runs now (so it cannot
# drift from what this chapter measures; per-layer targets are Exercise 1):

# %%
import inspect

from IPython.display import Code

Code(
    inspect.getsource(pruning.magnitude_mask)
    + "\n\n"
    + inspect.getsource(pruning.MagnitudePruning),
    language="python",
)

# %% [markdown]
# The schedule and the mask on a tiny example:

# %%
print(
    "polynomial schedule, 0 -> 90% over steps 0-100: "
    + ", ".join(
        f"step {t}: {pruning.polynomial_sparsity(t, 0, 100, 0.0, 0.9):.2f}"
        for t in (0, 25, 50, 75, 100)
    )
)
w = np.array([[0.5, -0.01], [0.2, -0.9]])
print(
    "magnitude mask of", w.tolist(), "at 50%:", pruning.magnitude_mask(w, 0.5).tolist()
)

# %% [markdown]
# A base model (the same small CNN) trains on `base_n` images; then copies are fine-tuned
# for `prune_epochs` epochs while `MagnitudePruning` raises their sparsity from 0 to each
# target gradually over the first `ramp_epochs` of them (masks recomputed ten times an
# epoch), so the network has time to route around what it loses, and a last epoch at the
# target. The first convolution (a few hundred weights that every later layer depends on)
# is left dense: a per-layer figure below shows what each layer keeps. Also the article's
# literal rule: zero every weight below 0.01 once (`pruning.prune_below`), with and without a fine-tuning epoch that keeps
# the zeros (`pruning.KeepZeros`). Sizes are gzip-compressed: pruning only shrinks a file
# once a compressor sees the zeros.

# %% tags=["nbval-ignore-output"]
scratch = tempfile.TemporaryDirectory(prefix="ch06-")  # removed when the kernel stops
workdir = Path(scratch.name)
x_base, y_base = x_train[: S["base_n"]], y_train[: S["base_n"]]
keras.utils.set_random_seed(SEED)
base = small_cnn(name="base")
base.compile(
    optimizer=keras.optimizers.Adam(1e-3),
    loss="sparse_categorical_crossentropy",
    metrics=["accuracy"],
)
training.build_for_fit(base, x_base, y_base)
base.fit(
    training.batches(x_base, y_base, 128, SEED),
    epochs=S["base_epochs"],
    verbose=0,
    shuffle=False,
)
steps = int(np.ceil(len(y_base) / 128))


def copy_of(model):
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    clone.compile(
        optimizer=keras.optimizers.Adam(5e-4),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return training.build_for_fit(clone, x_base, y_base)


def gzip_kb(path: Path) -> float:
    """Size after gzip at its default level (6; level 9 is several times slower on
    sparse
    weights and hardly smaller)."""
    return len(gzip.compress(path.read_bytes(), 6)) / 1024


_saved_models, _tflite_files = {}, {}


def tflite_file(model, variant="float32") -> Path:
    """The model as a LiteRT file (chapter 04a's converter): exported once per model,
    converted once per variant."""
    if id(model) not in _saved_models:
        name = f"m{len(_saved_models)}"
        _saved_models[id(model)] = export.export_saved_model(
            model, workdir / f"saved_{name}", name=name
        )
    saved = _saved_models[id(model)]
    key = (id(model), variant)
    if key not in _tflite_files:
        path = workdir / f"{saved.parent.name}_{variant}.tflite"
        path.write_bytes(export.to_tflite(saved, variant, representative=x_base[:300]))
        _tflite_files[key] = path
    return _tflite_files[key]


def row(model, name):
    # An uncompiled copy: a trained model's file would also carry Adam's two slots per
    # weight, and the untrained literal-rule copy none, which is no size comparison.
    bare = keras.models.clone_model(model)
    bare.set_weights(model.get_weights())
    keras_path = workdir / f"{name}.keras"
    bare.save(keras_path)
    return {
        "sparsity": 100 * pruning.sparsity(model),
        "val": 100 * measure.accuracy(model, x_val, y_val),
        "keras_kb": gzip_kb(keras_path),
        "tflite_kb": gzip_kb(tflite_file(model)),
    }


start = time.perf_counter()
pruned_models = {"dense (not pruned)": base}
first_conv = base.layers[0].name  # the 3x3x1x32 convolution on the pixels
for target in tqdm(SPARSITIES, desc="sparsity targets"):
    model = copy_of(base)
    model.fit(
        training.batches(x_base, y_base, 128, SEED),
        epochs=S["prune_epochs"],
        verbose=0,
        shuffle=False,
        callbacks=[
            pruning.MagnitudePruning(
                target,
                0,
                S["ramp_epochs"] * steps,
                frequency=max(1, steps // 10),
                skip=(first_conv,),
            )
        ],
    )
    pruned_models[f"magnitude, {target:.0%}"] = model
literal = copy_of(base)
pruning.prune_below(literal, 0.01)
pruned_models["below 0.01, no fine-tuning"] = literal
literal_ft = copy_of(literal)
literal_ft.fit(
    training.batches(x_base, y_base, 128, SEED),
    epochs=1,
    verbose=0,
    shuffle=False,
    callbacks=[pruning.KeepZeros()],
)
pruned_models["below 0.01, one epoch fine-tuning"] = literal_ft
prune_rows = {
    name: row(m, f"pruned{i}") for i, (name, m) in enumerate(pruned_models.items())
}
print(f"pruned and measured in {time.perf_counter() - start:.0f} s")
display(markdown_table(
    [
        "model",
        "sparsity of prunable weights, %",
        "validation accuracy, %",
        ".keras gzip, KB",
        ".tflite gzip, KB",
    ],
    [
        [
            n,
            f"{r['sparsity']:.1f}",
            f"{r['val']:.2f}",
            f"{r['keras_kb']:.0f}",
            f"{r['tflite_kb']:.0f}",
        ]
        for n, r in prune_rows.items()
    ],
))
dense_row = prune_rows["dense (not pruned)"]
top_row = prune_rows[f"magnitude, {max(SPARSITIES):.0%}"]
print(
    f"At {max(SPARSITIES):.0%} the gzipped LiteRT file is {top_row['tflite_kb']:.0f} KB"
    f" against {dense_row['tflite_kb']:.0f} KB dense"
    f" ({dense_row['tflite_kb'] / top_row['tflite_kb']:.1f}x smaller), at"
    f" {top_row['val'] - dense_row['val']:+.2f} points of validation accuracy; the"
    " .keras file (weights only, no optimizer state) goes from"
    f" {dense_row['keras_kb']:.0f}"
    f" to {top_row['keras_kb']:.0f} KB"
    f" ({dense_row['keras_kb'] / top_row['keras_kb']:.1f}x); the"
    " article's literal rule (below 0.01) zeroes"
    f" {prune_rows['below 0.01, no fine-tuning']['sparsity']:.1f}% of the weights."
)

# %% tags=["nbval-ignore-output"]
fig, ax = plt.subplots(figsize=(6, 3.5))
names = ["dense (not pruned)"] + [f"magnitude, {t:.0%}" for t in SPARSITIES]
ax.plot(
    [prune_rows[n]["sparsity"] for n in names],
    [prune_rows[n]["val"] for n in names],
    "o-",
    label=f"magnitude pruning, {S['prune_epochs']} epochs",
)
for n, marker in (
    ("below 0.01, no fine-tuning", "s"),
    ("below 0.01, one epoch fine-tuning", "D"),
):
    ax.plot(prune_rows[n]["sparsity"], prune_rows[n]["val"], marker, label=n)
ax.set(
    xlabel="sparsity of prunable weights, %",
    ylabel="validation accuracy, %",
    title="accuracy against sparsity",
)
ax.legend(fontsize=7)
plt.show()
kept = [t for t in SPARSITIES if prune_rows[f"magnitude, {t:.0%}"]["val"]
        >= prune_rows["dense (not pruned)"]["val"] - 0.5]
print(
    "Within half a point of the dense model's validation accuracy: "
    + (f"every target up to {max(kept):.0%}." if kept else "no pruning target.")
)

# %% tags=["nbval-ignore-output"]
most = pruned_models[f"magnitude, {max(SPARSITIES):.0%}"]
kernels = {w.path for w in pruning.prunable_weights(most)}
per_layer = [
    (layer.name, layer.kernel.numpy())
    for layer in most.layers
    if getattr(layer, "kernel", None) is not None and layer.kernel.path in kernels
]
fig, ax = plt.subplots(figsize=(6, 2.8))
ax.bar(
    [f"{name}\n{w.size:,} weights" for name, w in per_layer],
    [100 * np.mean(w == 0) for _, w in per_layer],
)
ax.set(
    ylabel="zeros, %",
    title=f"what each layer keeps at {max(SPARSITIES):.0%} (first convolution dense)",
)
plt.show()
dense_top = max(prune_rows["dense (not pruned)"]["val"], 1e-9)
print(
    "Per layer, at the highest target: "
    + ", ".join(f"{name} {100 * np.mean(w == 0):.0f}% zeros" for name, w in per_layer)
    + f". The first convolution keeps all {per_layer[0][1].size} of its weights, a"
    f" {per_layer[0][1].size / sum(w.size for _, w in per_layer):.2%} share of the"
    " prunable weights, so the overall sparsity is barely below the target. Validation"
    " accuracy across the targets: "
    + ", ".join(
        f"{t:.0%} {prune_rows[f'magnitude, {t:.0%}']['val']:.2f}%" for t in SPARSITIES
    )
    + f", against {dense_top:.2f}% dense."
)

# %% [markdown]
# Pruned and int8 together: the 90% model quantised to int8 (chapter 04a's recipe), and
# whether pruning makes inference faster at all. LiteRT's CPU kernels are dense: a zero
# costs as much to multiply as any other weight, so the measured latency ratio is the test.
# The two models are timed in `rounds` rounds, and which one goes first alternates, so a
# slow drift of the machine reaches both; each round gives one ratio of medians, and the
# interval is a t-interval over the rounds. (Timing all of one model and then all of the
# other, and bootstrapping over single calls, gives an interval far narrower than the
# difference between two runs of this notebook.)

# %% tags=["nbval-ignore-output"]
dense_f32 = export.TFLiteModel(tflite_file(base), num_threads=1)
sparse_f32 = export.TFLiteModel(
    tflite_file(pruned_models["magnitude, 90%"]), num_threads=1
)
sparse_int8_path = tflite_file(pruned_models["magnitude, 90%"], "int8")
sparse_int8 = export.TFLiteModel(sparse_int8_path, num_threads=1)
p50 = {"dense": [], "pruned": []}
for r in range(S["rounds"]):
    order = ["dense", "pruned"] if r % 2 == 0 else ["pruned", "dense"]
    for name in order:
        predict = (dense_f32 if name == "dense" else sparse_f32).predict
        p50[name].append(
            measure.latency_ms(predict, x_test[:50], runs=S["runs"])["p50"]
        )
prune_speed = claims.t_interval(
    np.divide(p50["dense"], p50["pruned"]),
    what="alternating rounds",
    resolution=1e-3,  # timings to the microsecond
)
int8_acc = 100 * (sparse_int8.predict(x_val).argmax(1) == y_val).mean()
print(
    f"90% pruned + int8: {gzip_kb(sparse_int8_path):.0f} KB gzip (dense float32 "
    f"{prune_rows['dense (not pruned)']['tflite_kb']:.0f} KB), validation accuracy "
    f"{int8_acc:.2f}%"
)
print(
    f"single-image p50, LiteRT float32, one thread, median of {S['rounds']} rounds:"
    f" dense {np.median(p50['dense']):.3f} ms, 90% pruned"
    f" {np.median(p50['pruned']):.3f} ms; dense/pruned {prune_speed.estimate:.3f}x"
    f" ({prune_speed.low:.3f}x to {prune_speed.high:.3f}x)"
)

# %% [markdown]
# ## 4 · Other runtimes on this CPU
#
# The dense base model, exported with Keras 3's own exporters (`model.export(path,
# format="onnx")` through tf2onnx, `format="openvino"`), and run in one session on:
# TensorFlow (a `tf.function`), LiteRT float32 and int8, ONNX Runtime, and OpenVINO. Every
# runtime gets the machine's threads where it has a setting (`inference_runtimes.onnx_runner`,
# `inference_runtimes.openvino_runner`). Every row computes in float32: on a CPU with native bfloat16
# (AVX-512 BF16 or AMX) OpenVINO would otherwise choose bfloat16 by itself, so
# `openvino_runner` asks for float32 (the cell prints OpenVINO's own choice for this CPU).
# Measured side by side: single-image p50/p99, batch-64 throughput, file size, and agreement
# with the Keras model on the test images (same predicted digit; largest difference in any
# output probability).

# %% tags=["nbval-ignore-output"]
import openvino

threads = 2
onnx_path, ov_path = workdir / "base.onnx", workdir / "base.xml"
with warnings.catch_warnings():  # tf2onnx's own FutureWarning about np.object
    warnings.simplefilter("ignore", FutureWarning)
    base.export(str(onnx_path), format="onnx", verbose=False)
base.export(str(ov_path), format="openvino")
serving_fn = tf.function(
    lambda x: base(x, training=False),
    input_signature=[tf.TensorSpec([None, 28, 28, 1], tf.float32)],
)
f32_path, int8_path = tflite_file(base), tflite_file(base, "int8")
lite_f32 = export.TFLiteModel(f32_path, num_threads=threads)
lite_int8 = export.TFLiteModel(int8_path, num_threads=threads)
print(
    "OpenVINO's own choice of precision on this CPU:",
    openvino.Core().get_property("CPU", "INFERENCE_PRECISION_HINT").get_type_name(),
    "(f32 asked below)",
)


RUNTIMES = {
    "TensorFlow (tf.function)": (lambda x: serving_fn(tf.constant(x)).numpy(), None),
    "LiteRT float32": (lite_f32.predict, f32_path),
    "LiteRT int8": (lite_int8.predict, int8_path),
    "ONNX Runtime": (inference_runtimes.onnx_runner(onnx_path, threads), onnx_path),
    "OpenVINO": (inference_runtimes.openvino_runner(ov_path, threads), ov_path),
}
reference = base.predict(x_test, batch_size=1000, verbose=0)
batch64 = x_test[:64]
runtime_rows, latencies = {}, {}
for name, (predict, path) in tqdm(RUNTIMES.items(), desc="runtimes"):
    outputs = np.concatenate(
        [predict(x_test[i : i + 500]) for i in range(0, len(x_test), 500)]
    )
    agree = inference_runtimes.agreement(
        reference, outputs
    )  # all end in the model's softmax
    latencies[name] = measure.latency_ms(predict, x_test[:50], runs=S["runs"])
    predict(batch64)
    start, calls = time.perf_counter(), max(5, S["runs"] // 10)
    for _ in range(calls):
        predict(batch64)
    throughput = calls * 64 / (time.perf_counter() - start)
    size = (
        (
            path.stat().st_size
            + (path.with_suffix(".bin").stat().st_size if path.suffix == ".xml" else 0)
        )
        / 1024
        if path
        else None
    )
    runtime_rows[name] = [
        name,
        f"{latencies[name]['p50']:.3f}",
        f"{latencies[name]['p99']:.3f}",
        f"{throughput:,.0f}",
        "-" if size is None else f"{size:.0f}",
        f"{100 * agree.argmax:.2f}",
        f"{agree.max_difference:.1e}",
    ]
display(markdown_table(
    [
        "runtime",
        "p50, ms",
        "p99, ms",
        "batch-64 images/s",
        "file, KB",
        "same digit as Keras, %",
        "max probability difference",
    ],
    list(runtime_rows.values()),
))
fastest = min(latencies, key=lambda n: latencies[n]["p50"])
print(
    f"Single-image p50 on {here}: the fastest is {fastest}"
    f" ({latencies[fastest]['p50']:.3f} ms); every runtime gives Keras's digit on "
    + ", ".join(f"{row[0]} {row[5]}%" for row in runtime_rows.values())
    + " of the images. The claims check below judges OpenVINO's ratio."
)

# %% [markdown]
# NNCF, OpenVINO's quantiser, is not used: it has no TensorFlow backend (it would quantise
# the ONNX or OpenVINO file) and its numpy cap is below the course's numpy 2.4 pin, so it
# cannot be installed beside the rest in one resolve.

# %% [markdown]
# ## 5 · TensorRT, honestly
#
# TF-TRT is gone from current TensorFlow builds, and the `tensorrt` wheel comes from NVIDIA's
# own package index and needs an NVIDIA GPU. The cell below builds TensorRT engines from the
# ONNX file (FP16, and INT8 calibrated on training images) and times them like the others,
# only where both exist; elsewhere it prints why it was skipped.

# %% tags=["nbval-ignore-output"]
available, reason = inference_runtimes.tensorrt_status()
if available:
    for precision in ("fp16", "int8"):
        engine = inference_runtimes.tensorrt_runner(
            onnx_path, precision, calibration=x_base[:500]
        )
        agree = inference_runtimes.agreement(reference[:1000], engine(x_test[:1000]))
        lat = measure.latency_ms(engine, x_test[:50], runs=S["runs"])
        if precision == "fp16":
            tensorrt_speed = claims.bootstrap_interval(
                latencies["TensorFlow (tf.function)"]["samples"],
                lat["samples"],
                statistic=lambda a, b: np.median(a) / np.median(b),
                what="timed calls",
            )
        print(
            f"TensorRT {precision} on {here}: p50 {lat['p50']:.3f} ms, p99 "
            f"{lat['p99']:.3f} ms, same digit as Keras on {100 * agree.argmax:.2f}%"
        )
else:
    print(f"TensorRT not measured: {reason}.")

# %% [markdown]
# ## 6 · A lab of common failures
#
# Each failure below is reproduced in a few lines on `lab_n` images, with its symptom, the
# diagnostic from `mnist_course.diagnostics` that catches it, and the fix. The diagnostics
# work on your own model and data.

# %%
x_lab, y_lab = x_train[: S["lab_n"]], y_train[: S["lab_n"]]


def lab_model(output="softmax", momentum=None):
    keras.utils.set_random_seed(SEED)
    stack = [
        keras.Input((28, 28, 1)),
        layers.Conv2D(16, 3, activation="relu"),
        layers.MaxPooling2D(),
    ]
    if momentum is not None:
        stack.append(layers.BatchNormalization(momentum=momentum))
    stack += [layers.Flatten(), layers.Dense(10, activation=output)]
    return keras.Sequential(stack)


def compiled(
    model, lr=1e-3, from_logits=False, loss=keras.losses.SparseCategoricalCrossentropy
):
    model.compile(
        optimizer=keras.optimizers.Adam(lr),
        loss=loss(from_logits=from_logits),
        metrics=["accuracy"],
    )
    return model


def lab_fit(model, x, y, epochs=2) -> dict:
    """Train briefly; the last epoch's loss and training accuracy (%)."""
    training.build_for_fit(model, x, y)
    history = model.fit(x, y, batch_size=64, epochs=epochs, verbose=0).history
    return {"loss": history["loss"][-1], "accuracy": 100 * history["accuracy"][-1]}


def words(result: dict) -> str:
    return f"loss {result['loss']:.3g}, training accuracy {result['accuracy']:.1f}%"


# %% [markdown]
# **Slow or stuck, case 1: inputs not scaled.** Pixels 0-255 straight into the network.

# %% tags=["nbval-ignore-output"]
raw = x_lab * 255
unscaled = lab_fit(compiled(lab_model(), lr=1e-2), raw, y_lab)
print("symptom:", words(unscaled))
print(diagnostics.input_range(raw))
scaled = lab_fit(compiled(lab_model(), lr=1e-2), raw / 255, y_lab)
print("fix, inputs / 255:", words(scaled))
print(
    f"From the same initial weights, unscaled inputs end the two epochs at"
    f" {unscaled['accuracy']:.1f}% (loss {unscaled['loss']:.3g}) and scaled ones at"
    f" {scaled['accuracy']:.1f}% (loss {scaled['loss']:.3g}): "
    + (
        "the network still learns from 0-255 pixels, only slower; the symptom is a"
        " lag, not a stall."
        if unscaled["accuracy"] > 20
        else "unscaled, it is stuck near chance."
    )
)

# %% [markdown]
# **Slow or stuck, case 2: `from_logits` does not match the output.** A last layer without softmax
# produces logits; a loss left at `from_logits=False` takes them for probabilities. (The
# other mismatch, a softmax output with `from_logits=True`, applies softmax twice; Keras's
# TensorFlow backend notices that one, warns and undoes it, but other backends and
# hand-written losses do not.) A one-batch overfit test is the quickest way to tell a broken
# set-up from too little training: a healthy one memorises 32 images.

# %% tags=["nbval-ignore-output"]
model = compiled(lab_model(None), from_logits=False)
print("symptom:", words(lab_fit(model, x_lab, y_lab)))
print(diagnostics.output_and_loss(model))
print(diagnostics.overfit_one_batch(model, x_lab, y_lab, steps=30))
fixed = compiled(lab_model(None), from_logits=True)
print("fix, from_logits=True:", words(lab_fit(fixed, x_lab, y_lab)))
print(diagnostics.overfit_one_batch(fixed, x_lab, y_lab, steps=30))

# %% [markdown]
# **Loss wild, accuracy at chance: learning rate far too high.** Adam at 10 instead of
# 0.001; a coarse learning-rate range test (a few steps at each rate from the same weights)
# shows where the loss blows up, and where it ends lowest.

# %% tags=["nbval-ignore-output"]
model = compiled(lab_model(None), lr=10.0, from_logits=True)
print("symptom:", words(lab_fit(model, x_lab, y_lab)))
finding, curve = diagnostics.learning_rate_range(
    compiled(lab_model(None), lr=10.0, from_logits=True),
    x_lab,
    y_lab,
    rates=10.0 ** np.arange(-4, 1.5, 1.0),
)
print(finding)
fig, ax = plt.subplots(figsize=(5, 2.8))
ax.semilogx([r for r, _ in curve], [min(loss, 1e3) for _, loss in curve], "o-")
ax.set(
    xlabel="learning rate",
    ylabel="loss after 5 steps (capped at 1000)",
    title="learning-rate range test",
    yscale="log",
)
plt.show()
finite = [(r, loss) for r, loss in curve if np.isfinite(loss)]
best_rate, best_loss = min(finite, key=lambda pair: pair[1])
print(
    f"The loss after five steps is lowest at a learning rate of {best_rate:g}"
    f" ({best_loss:.3f}) and {'explodes' if curve[-1][1] > 10 * best_loss else 'rises'}"
    f" by {curve[-1][0]:g}. The diagnostic advises a tenth of the lowest point,"
    f" {best_rate / 10:g}: five steps reward a rate near the edge of stability, and a"
    " whole run needs room below it."
)

# %% [markdown]
# **Sparse versus one-hot labels.** One-hot labels given to a sparse loss (or integer labels
# to `categorical_crossentropy`) fail with a shape error, or worse, train on nonsense.

# %% tags=["nbval-ignore-output"]
one_hot = np.eye(10)[y_lab]
model = compiled(lab_model())
try:
    print(
        "symptom: it trained, on labels it misread:",
        words(lab_fit(model, x_lab, one_hot, 1)),
    )
except Exception as err:  # Keras reports a shape mismatch; show its first line
    print("symptom:", type(err).__name__, str(err).splitlines()[0][:150])
print(diagnostics.label_format(one_hot, model))

# %% [markdown]
# **Trains well, infers at chance: batch-norm statistics that never settled.** Chapter 01's
# short runs hit exactly this: batch norm normalises with each batch's statistics while
# training, and with its moving averages at inference. With momentum 0.999 and a few dozen
# steps the averages are still near their initial values. Two candidate fixes, each
# judged below by the same diagnostic that flags the symptom: a lower momentum (the
# averages forget their start faster), and recomputing the averages from training images
# once training is done: one pass in training mode with momentum 0, so that each average
# becomes the statistic of that pass (no weight changes).

# %% tags=["nbval-ignore-output"]
steps_short = max(5, S["lab_n"] // 64 // 2)


def recompute_statistics(model, images):
    """Set every batch-norm layer's moving averages to the statistics of ``images``."""
    norms = [x for x in model.layers if isinstance(x, layers.BatchNormalization)]
    kept = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0  # new average = 0 * old + 1 * this pass's statistic
    model(images, training=True)
    for layer, momentum in zip(norms, kept):
        layer.momentum = momentum
    return model


bn_rows = {}
for label, momentum, recompute in (
    ("momentum 0.999 (the symptom)", 0.999, False),
    ("momentum 0.9", 0.9, False),
    ("momentum 0.999, averages recomputed", 0.999, True),
):
    model = training.build_for_fit(compiled(lab_model(momentum=momentum)), x_lab, y_lab)
    model.fit(
        x_lab, y_lab, batch_size=64, epochs=1, steps_per_epoch=steps_short, verbose=0
    )
    if recompute:
        recompute_statistics(model, x_lab)
    finding = diagnostics.batchnorm_settled(model, x_val[:1000])
    infer_acc = 100 * measure.accuracy(model, x_val[:1000], y_val[:1000])
    # last: a training-mode call moves the averages a little
    batch_mode = np.asarray(model(x_val[:1000], training=True)).argmax(1)
    bn_rows[label] = (100 * (batch_mode == y_val[:1000]).mean(), infer_acc, finding)
    print(
        f"{label}: {steps_short} steps; validation accuracy with batch statistics"
        f" {bn_rows[label][0]:.1f}%, with moving averages {bn_rows[label][1]:.1f}%"
    )
    print("  ", finding)
passing = [label for label, (_, _, finding) in bn_rows.items() if finding.ok]
flagged = [label for label, (_, _, finding) in bn_rows.items() if not finding.ok]
print(
    f"After {steps_short} steps, "
    + (
        "the diagnostic passes " + " and ".join(passing)
        if passing
        else "no variant passes the diagnostic"
    )
    + (f" and still flags {' and '.join(flagged)}" if flagged else "")
    + "; "
    + ", ".join(
        f"{label} keeps {infer:.1f}% of the images right at inference"
        for label, (_, infer, _) in bn_rows.items()
    )
    + "."
)

# %% [markdown]
# **How many steps is "a short run"?** The course's own models (`models.compact_cnn` and its
# relatives) build every batch-norm layer with `models.BN_MOMENTUM`, whose comment in
# `models.py` says how many steps that momentum needs to settle. The claim is measured
# here, not taken on trust: the compact CNN trains with the course's recipe, once with
# Keras's default momentum 0.99 and once with the course's, and after each of
# `bn_checkpoints` steps the diagnostic above is read (the two modes must agree on 90% of
# the validation images) beside the accuracy at inference.
#

# %% tags=["nbval-ignore-output"]
import inspect
import re

from mnist_course import models

CHECKPOINTS = S["bn_checkpoints"]
bn_x, bn_y = x_train[: S["base_n"]], y_train[: S["base_n"]]
settling = {}  # momentum -> [(diagnostic passes, inference accuracy %)] per checkpoint
for momentum in (0.99, models.BN_MOMENTUM):
    keras.utils.set_random_seed(SEED)  # the same initial weights and data order
    model = models.compact_cnn(name="compact_cnn_settling")
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.momentum = momentum  # read when the training step is traced
    training.build_for_fit(training.compile_model(model, CHECKPOINTS[-1]), bn_x, bn_y)
    settling[momentum] = []
    stream = training.batches(bn_x, bn_y, 128, SEED).repeat()
    for step, (xb, yb) in enumerate(stream.take(CHECKPOINTS[-1]), start=1):
        model.train_on_batch(xb, yb)
        if step in CHECKPOINTS:
            passes = diagnostics.batchnorm_settled(model, x_val[:1000]).ok
            accuracy = 100 * measure.accuracy(model, x_val[:1000], y_val[:1000])
            settling[momentum].append((passes, accuracy))
display(markdown_table(
    ["steps"] + [f"momentum {m}: diagnostic, inference accuracy" for m in settling],
    [
        [f"{step}"]
        + [
            f"{'ok' if settling[m][k][0] else 'FIX'}, {settling[m][k][1]:.1f}%"
            for m in settling
        ]
        for k, step in enumerate(CHECKPOINTS)
    ],
))


def first_pass(momentum: float) -> int | None:
    """The first checkpoint from which the diagnostic passes at every later one."""
    oks = [passes for passes, _ in settling[momentum]]
    for k, step in enumerate(CHECKPOINTS):
        if all(oks[k:]):
            return step
    return None


def settled_words(momentum: float) -> str:
    step = first_pass(momentum)
    return (
        f"momentum {momentum} passes from step {step} on"
        if step
        else f"momentum {momentum} does not pass for good within"
        f" {CHECKPOINTS[-1]} steps"
    )


stated = re.search(r"settles within ~(\d+) steps", inspect.getsource(models))
course_step = first_pass(models.BN_MOMENTUM)
print(
    f"Read at steps {', '.join(map(str, CHECKPOINTS))}: {settled_words(0.99)};"
    f" {settled_words(models.BN_MOMENTUM)}. "
    + (
        "models.py no longer states a number of steps."
        if stated is None
        else f"models.py says {models.BN_MOMENTUM} settles within ~{stated[1]} steps: "
        + (
            "this run agrees."
            if course_step is not None and course_step <= int(stated[1])
            else f"this run ends at step {CHECKPOINTS[-1]}, too early to tell."
            if CHECKPOINTS[-1] < int(stated[1])
            else "this run does not bear that out"
            + (f" (it took {course_step})." if course_step else ".")
        )
    )
)

# %% [markdown]
# **Validation accuracy above training accuracy.** Not a bug in itself: `fit` reports
# training accuracy with dropout and augmentation on, validation without.

# %% tags=["nbval-ignore-output"]
keras.utils.set_random_seed(SEED)
model = small_cnn(dropout=0.5)
model.compile(
    optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
)
training.build_for_fit(model, x_lab, y_lab)
history = model.fit(
    training.batches(x_lab, y_lab, 64, SEED, training.augmentation_policy(seed=SEED)),
    validation_data=(x_val, y_val),
    epochs=3,
    verbose=0,
    shuffle=False,
).history
print(diagnostics.validation_above_training(history))
print(
    "training accuracy re-measured in inference mode:"
    f" {100 * measure.accuracy(model, x_lab, y_lab):.1f}% (fit reported"
    f" {100 * history['accuracy'][-1]:.1f}%; validation"
    f" {100 * history['val_accuracy'][-1]:.1f}%)"
)

# %% [markdown]
# **Leakage between validation and test.** A "validation" set cut from a shuffled mix of the
# training and test images shares images with the test set; a model chosen on it is partly
# chosen on the test set.

# %% tags=["nbval-ignore-output"]
mixed = np.concatenate([split.x_train[:5000], split.x_test[:5000]])
careless_val = mixed[np.random.default_rng(SEED).permutation(len(mixed))[:2000]]
print(diagnostics.leakage(careless_val, split.x_test))
print(diagnostics.leakage(split.x_val, split.x_test))

# %% [markdown]
# **Every new model's first epoch is slow.** Keras's TensorFlow trainer traces the training
# step into a graph on the first batch. Without a distribution strategy it creates the
# optimiser's slots and the metrics' variables inside that trace, and TensorFlow traces a
# function that created variables a second time. On a small set the tracing is most of the
# time. `training.build_for_fit` creates them first. Below, the same model with the same
# seed trains for one epoch both ways, alternately, `timing_pairs` times; the time of the
# built-first run includes the building.


# %% tags=["nbval-ignore-output"]
def first_fit(build_first: bool) -> tuple[float, list[float]]:
    model = compiled(lab_model())
    start = time.perf_counter()  # building first counts towards its time
    if build_first:
        training.build_for_fit(model, x_lab, y_lab)
    losses = model.fit(x_lab, y_lab, batch_size=64, epochs=1, verbose=0).history["loss"]
    return time.perf_counter() - start, losses


pairs = [(first_fit(False), first_fit(True)) for _ in range(S["timing_pairs"])]
plain_s, built_s = (np.median([pair[k][0] for pair in pairs]) for k in (0, 1))
print(
    f"first epoch, median of {len(pairs)}: {plain_s:.2f} s as it comes, {built_s:.2f} s"
    f" built first ({plain_s / built_s:.2f}x); the same losses both ways:"
    f" {all(plain[1] == built[1] for plain, built in pairs)}"
)

# %% [markdown]
# ## Claims check
#
# The article's fixes, stated as claims and checked with the course's rules
# (`mnist_course.course.claims`). None of them is one of the article's numbered claims, and
# the article gives no sizes, so the course reads each once (`claims.READINGS`, ids
# `T06.*`) as "an effect at least as large as the smallest worth having": 1 point of
# generalisation gap or of balanced accuracy, 10% of speed, each with half of it as the
# margin. They reach the ledger like the article's claims.


# %% tags=["nbval-ignore-output"]
def gap_verdict(claim_id: str, name: str) -> claims.Verdict:
    """The gap change of ``name`` against no remedy, with every model's convergence."""
    return claims.judge(
        claim_id,
        remedy[name][0],
        converged={
            f"{n} (seed {s})": run_converged(n, s)
            for n in ("none", name)
            for s in seeds
        },
    )


def p50_ratio(a, b):
    return np.median(a) / np.median(b)


openvino_speed = claims.bootstrap_interval(
    latencies["TensorFlow (tf.function)"]["samples"],
    latencies["OpenVINO"]["samples"],
    statistic=p50_ratio,
    what="timed calls",
)
gaps = {
    "T06.l2": "L2 0.001",
    "T06.dropout": "dropout 0.3",
    "T06.early_stopping": "early stopping (patience 5)",
}
rows_06 = [
    Claim(
        claim_id,
        f"gap change {remedy[name][0].estimate:+.1f} points "
        f"({remedy[name][0].low:+.1f} to {remedy[name][0].high:+.1f})",
        gap_verdict(claim_id, name),
        f"{len(seeds)} paired seeds, {S['overfit_n']:,} training images; the gap on"
        f" the {len(y_report):,} validation images early stopping did not watch.",
    )
    for claim_id, name in gaps.items()
] + [
    Claim(
        "T06.class_weights_tail",
        f"balanced accuracy {tail_diff['class weights'].estimate:+.1f} points",
        claims.judge("T06.class_weights_tail", tail_diff["class weights"]),
        f"{len(seeds)} paired seeds, the same epochs for each method.",
    ),
    Claim(
        "T06.class_weights_mnist",
        f"balanced accuracy {real_diff.estimate:+.2f} points",
        claims.judge("T06.class_weights_mnist", real_diff),
        f"{len(seeds)} paired seeds, the same epochs for each method.",
    ),
    Claim(
        "T06.pruning_speed",
        f"{prune_speed.estimate:.2f}x",
        claims.judge("T06.pruning_speed", prune_speed),
        "90% of the weights pruned, LiteRT float32, one thread, alternating rounds.",
    ),
    Claim(
        "T06.openvino_speed",
        f"{openvino_speed.estimate:.2f}x TensorFlow's p50 speed on {here}",
        claims.judge(
            "T06.openvino_speed", openvino_speed, here=here, setting_ok="Intel" in here
        ),
        "Float32, the same SavedModel.",
    ),
]
if available:  # measured by the TensorRT cell: FP16 against TensorFlow's p50
    rows_06.append(
        Claim(
            "T06.tensorrt_speed",
            f"{tensorrt_speed.estimate:.2f}x TensorFlow's p50 speed on {here}",
            claims.judge(
                "T06.tensorrt_speed", tensorrt_speed, here=here, setting_ok=True
            ),
            "FP16 engine built from the ONNX file.",
        )
    )
else:
    print(f"TensorRT: not measured here ({reason}); no row for it.")
display(claims_table(rows_06))
print(
    "; ".join(f"{row.id} {row.verdict.verdict}" for row in rows_06)
    + ". Each row is in the course's ledger (book/claims.md). This chapter ran in"
    f" {(time.perf_counter() - CHAPTER_START) / 60:.1f} minutes on {here} in the"
    f" {PROFILE} profile."
)

# %% [markdown]
# ## Exercises
#
# Solutions: `solutions/06_troubleshooting_solutions.ipynb`.
#
# **Exercise 1.** Section 3 keeps the first convolution dense (`skip`), so a model pruned
# "to 90%" holds fewer than 90% zeros overall. Write `layer_sparsities(sizes, overall,
# protect_below)`: given each prunable layer's number of weights, return one sparsity per
# layer such that layers with fewer than `protect_below` weights stay dense (0), all other
# layers share one sparsity, and the whole model's share of zeroed weights is `overall`.
# Where no sparsity of at most 1 reaches `overall`, raise `ValueError` with a message that
# says the most the model can reach (as a percentage of all weights). The checker tries
# several models, one where the target cannot be met.


# %%
def layer_sparsities(
    sizes: list[int], overall: float, protect_below: int
) -> list[float]:
    raise NotImplementedError


check.layer_sparsities(layer_sparsities)

# %% [markdown]
# **Exercise 2.** Diagnose, then repair. A training script receives `(images, labels,
# model)` and trains badly, or not. Any of three faults from the lab may be present, alone,
# together, or none at all: pixels in 0-255 instead of [0, 1]; a model that outputs logits
# compiled with `from_logits=False`; one-hot labels given to a sparse loss. Write
# `repair(images, labels, model)` returning `(images, labels, model)` with each fault that
# is present fixed and nothing healthy changed (keep the model's layers; recompile it if
# its loss must change). Find the faults from the data and the model yourself (the last
# layer's `activation`, the compiled `loss`, the labels' shape, the pixels' range): the
# checker switches `mnist_course.diagnostics` off while your function runs. It hands you
# four set-ups with different faults, trains each repaired one briefly and checks that it
# learns.


# %%
def repair(
    images: np.ndarray, labels: np.ndarray, model: keras.Model
) -> tuple[np.ndarray, np.ndarray, keras.Model]:
    raise NotImplementedError


check.repair(repair)

# %% [markdown]
# **Exercise 3.** Section 2's "balanced" weights (`n / (k * count)`) give the long-tailed
# set's rarest digit many times the weight of its commonest, and then a handful of images
# steers every step. Write `class_weights(labels, cap)` returning `{class: weight}` for
# every class present such that no weight exceeds `cap` times the smallest; classes whose
# balanced weight fits under that cap carry equal totals (count x weight), as under
# "balanced", and a capped class sits at exactly the cap; and the weight averaged over the
# images (not over the classes) is 1, so that the loss keeps its scale and the learning rate
# that suited it still does. `compute_class_weight` alone meets the last rule, not the first.


# %%
def class_weights(labels: np.ndarray, cap: float) -> dict[int, float]:
    raise NotImplementedError


check.class_weights(class_weights)
