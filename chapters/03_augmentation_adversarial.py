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
# # 03 · Augmentation and adversarial robustness
#
# The article's third section trains on geometrically augmented digits and on adversarial
# examples. It claims that MNIST is imbalanced, digit 1 having 1.2x the samples of digit 9
# (**C6**), that geometric augmentation raises accuracy on tilted digits by 4 points (**C7**),
# and that FGSM adversarial training raises robustness "under noise" by 12 points (**C8**).
# We build each piece correctly, measure each claim over several seeds, and add the attack
# the article leaves out: PGD, which tells real robustness from gradient masking.
#
# **By the end of this chapter you will be able to**
#
# - write a geometric augmentation policy with Keras 3 preprocessing layers, run it inside a
#   `tf.data` pipeline, and map it onto the legacy `ImageDataGenerator` of older tutorials;
# - explain why augmentation does not fix class imbalance;
# - implement FGSM correctly (tensors, logits, clipping) and PGD, and train a model on a mix of
#   clean and adversarial examples;
# - read robustness curves against FGSM, PGD and Gaussian noise, and recognise gradient
#   masking when you see it.

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

from mnist_course import data, models, robustness, training
from mnist_course.course import claims
from mnist_course.course.checks.ch03 import check
from mnist_course.course.claims import Claim, claims_table, markdown_table
from mnist_course.measure import accuracy
from mnist_course.plots import image_grid

# %% tags=["parameters"]
PROFILE = "full"
SEED = 0
SIZES = {
    # n_train/epochs: every model here (compact CNN); n_val: validation images (None:
    # all); seeds: repeats of the C7 experiment; n_eval: test images under each attack;
    # pgd_steps: iterations of PGD; epsilons: attack strengths on the robustness curves
    "quick": {
        "n_train": 2_000,
        "n_val": 1_000,
        "epochs": 1,
        "seeds": [0],
        "n_eval": 200,
        "pgd_steps": 3,
        "epsilons": [0.0, 0.1, 0.3],
    },
    "full": {
        "n_train": 16_000,
        "n_val": None,
        "epochs": 5,
        "seeds": [0, 1, 2, 3, 4],
        "n_eval": 2_000,
        "pgd_steps": 10,
        "epsilons": [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
    },
}
SIGMAS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
ANGLES = [0, 15, 30, 45]

# %% tags=["nbval-ignore-output"]
PROFILE = active_profile(PROFILE)
S = SIZES[PROFILE]
EPSILONS = S["epsilons"]
seed_everything(SEED)
split = data.load_split()
x_train = data.to_model_input(split.x_train[: S["n_train"]])
y_train = split.y_train[: S["n_train"]]
x_val, y_val = data.to_model_input(split.x_val[: S["n_val"]]), split.y_val[: S["n_val"]]
x_eval, y_eval = (
    data.to_model_input(split.x_test[: S["n_eval"]]),
    split.y_test[: S["n_eval"]],
)
print(f"profile {PROFILE}: {S}")

# %% [markdown]
# ## Class balance first (C6)
#
# The article motivates augmentation with class imbalance. Chapter 00 measured it (the first
# line below repeats the count). And geometric augmentation cannot change the balance anyway:
# it makes new versions of the images it is given, each keeping its label, so every digit's
# share of the training stream stays what it was. The cell below counts the labels that come
# out of one epoch of the augmented pipeline, and asserts that they did not change.

# %% tags=["nbval-ignore-output"]
counts = np.bincount(split.y_train, minlength=10)
policy = training.augmentation_policy(seed=SEED)
stream = (
    tf.data.Dataset.from_tensor_slices((x_train, y_train))
    .batch(256)
    .map(lambda xb, yb: (policy(xb, training=True), yb))
)
augmented_counts = np.bincount(
    np.concatenate([yb.numpy() for _, yb in stream]), minlength=10
)
print("digit 1 / digit 9 in the training split:", f"{counts[1] / counts[9]:.3f}")
print(
    "label counts, this training subset:     ",
    np.bincount(y_train, minlength=10).tolist(),
)
print("label counts after augmentation:        ", augmented_counts.tolist())
counts_unchanged = np.array_equal(augmented_counts, np.bincount(y_train, minlength=10))
print("unchanged:", counts_unchanged)
assert counts_unchanged, "augmentation changed the label counts"

# %% [markdown]
# Imbalance is fixed by weighting or resampling (`class_weight` in `model.fit`, chapter 06),
# not by augmentation.
#
# ## A geometric augmentation policy
#
# The article's policy: rotation up to 15 degrees, shifts of 10%, zoom of 10%, shear 0.1. In
# Keras 3 each is a preprocessing layer that is active only when called with
# `training=True`; `training.augmentation_policy()` stacks them, filling uncovered pixels
# with 0 (Keras's default fill, `reflect`, would mirror strokes into the empty corners).

# %%
for layer in policy.layers:
    config = layer.get_config()
    shown = {
        k: config[k]
        for k in (
            "factor",
            "height_factor",
            "width_factor",
            "x_factor",
            "y_factor",
            "fill_mode",
        )
        if k in config
    }
    print(f"{type(layer).__name__:18} {shown}")

# %%
digit = x_train[:1]
variants = np.concatenate([policy(np.repeat(digit, 15, axis=0), training=True).numpy()])
image_grid(np.concatenate([digit, variants]), ["original"] + [""] * 15, ncols=8)
plt.show()

# %% [markdown]
# ### The same policy in the legacy API
#
# Older tutorials, the article included, use `ImageDataGenerator`. It still works in Keras 3
# but is legacy; its arguments map onto the layers like this:
#
# | ImageDataGenerator | Keras 3 layer | note |
# |---|---|---|
# | `rotation_range=15` (degrees) | `RandomRotation(15 / 360)` (fraction of a full turn) | |
# | `width_shift_range=0.1`, `height_shift_range=0.1` | `RandomTranslation(0.1, 0.1)` | |
# | `zoom_range=0.1` | `RandomZoom((-0.1, 0.1))` | |
# | `shear_range=0.1` | `RandomShear(0.1, 0.1)` | **pitfall**: `shear_range` is in *degrees*, so the article's 0.1 is a tenth of a degree, no shear at all; Keras's factor 0.1 is about 5.7 degrees |
# | `fill_mode="nearest"` (default) | `fill_mode="constant"` here | |
#
# Side by side, eight draws of each:

# %%
legacy = tf.keras.preprocessing.image.ImageDataGenerator(
    rotation_range=15,
    width_shift_range=0.1,
    height_shift_range=0.1,
    zoom_range=0.1,
    shear_range=5.7,
    fill_mode="constant",
    cval=0.0,
)
legacy_variants = np.stack(
    [legacy.random_transform(digit[0], seed=SEED + i) for i in range(8)]
)
image_grid(
    np.concatenate([variants[:8], legacy_variants]),
    ["Keras 3 layers"] + [""] * 7 + ["ImageDataGenerator"] + [""] * 7,
    ncols=8,
)
plt.show()

# %% [markdown]
# ## Tilted digits (C7)
#
# To test "accuracy on tilted digits" we need tilted digits. `robustness.tilted_set` rotates
# the test images by 15, 30 and 45 degrees, each image clockwise or counter-clockwise at
# random (fixed by the seed), labels unchanged.

# %%
tilted = robustness.tilted_set(split.x_test[: S["n_eval"]], ANGLES, seed=SEED)
image_grid(
    np.concatenate([tilted[a][:6] for a in ANGLES]),
    [f"{a}°" if i == 0 else "" for a in ANGLES for i in range(6)],
    ncols=6,
)
plt.show()

# %% [markdown]
# We train the compact CNN with and without the augmentation policy, once per seed, and
# measure accuracy at each angle. Within a pair, both models start from the same weights
# (built right after the same `seed_everything`) and see the same images in the same order
# (`training.fit` shuffles with the seed, in one `tf.data` pipeline with or without the
# policy): a paired comparison, so the difference is the augmentation's doing.

# %% tags=["nbval-ignore-output"]
tilt_acc = {"plain": [], "augmented": []}
plain_models, val_curves = [], {}
for seed in S["seeds"]:
    for kind in ("plain", "augmented"):
        seed_everything(seed)
        model = models.compact_cnn(name=f"{kind}_seed{seed}")
        augment = (
            training.augmentation_policy(seed=seed) if kind == "augmented" else None
        )
        val_curves[kind, seed] = training.fit(
            model,
            x_train,
            y_train,
            (x_val, y_val),
            epochs=S["epochs"],
            augment=augment,
            seed=seed,
        )["val_accuracy"]
        tilt_acc[kind].append([
            accuracy(model, data.to_model_input(tilted[a]), y_eval) * 100
            for a in ANGLES
        ])
        if kind == "plain":
            plain_models.append(model)
tilt_acc = {k: np.array(v) for k, v in tilt_acc.items()}  # (seeds, angles)

# %% tags=["nbval-ignore-output"]
fig, ax = plt.subplots(figsize=(6, 4))
for kind, color in (("plain", "tab:blue"), ("augmented", "tab:orange")):
    mean, low, high = (
        tilt_acc[kind].mean(0),
        tilt_acc[kind].min(0),
        tilt_acc[kind].max(0),
    )
    ax.plot(
        ANGLES,
        mean,
        marker="o",
        color=color,
        label=f"{kind} (mean of {len(S['seeds'])})",
    )
    ax.fill_between(ANGLES, low, high, color=color, alpha=0.2)
ax.set(
    xlabel="tilt (degrees)",
    ylabel="test accuracy (%)",
    xticks=ANGLES,
    title="Accuracy on tilted digits, band = min to max over seeds",
)
ax.grid(alpha=0.3)
ax.legend()
plt.show()
markdown_table(
    ["tilt"] + [f"{a}°" for a in ANGLES],
    [[k] + [f"{m:.2f}" for m in tilt_acc[k].mean(0)] for k in tilt_acc]
    + [
        ["gain (points)"]
        + [f"{d:+.2f}" for d in (tilt_acc["augmented"] - tilt_acc["plain"]).mean(0)]
    ],
)

# %% [markdown]
# ## Adversarial examples with FGSM
#
# The fast gradient sign method nudges every pixel by `epsilon` in the direction that raises
# the loss: `x_adv = clip(x + epsilon * sign(grad_x loss), 0, 1)`. Three details the article's
# snippet gets wrong or leaves implicit, all handled by `robustness.fgsm`:
#
# - the gradient tape can only watch tensors, so the images become a `tf.Tensor` first;
# - the loss must match the model's output: our models output logits, so the cross-entropy
#   uses `from_logits=True`;
# - the result is clipped to [0, 1], the valid pixel range.
#
# Here is that code, read from the package as it runs now (so it cannot drift from what this
# chapter measures):

# %%
import inspect

from IPython.display import Code

Code(
    "\n\n".join(
        inspect.getsource(f)
        for f in (robustness._loss_gradient, robustness._fgsm_step, robustness.fgsm)
    ),
    language="python",
)

# %% [markdown]
# Against the plain model of the first seed, with epsilon 0.1 (the article's value):

# %% tags=["nbval-ignore-output"]
standard = plain_models[0]
shown_x, shown_y = x_eval[:8], y_eval[:8]
adversarial = robustness.fgsm(standard, shown_x, shown_y, epsilon=0.1)
pred_clean = standard.predict(shown_x, verbose=0).argmax(-1)
pred_adv = standard.predict(adversarial, verbose=0).argmax(-1)
image_grid(
    np.concatenate([shown_x, adversarial]),
    [f"clean: {p}" for p in pred_clean] + [f"FGSM: {p}" for p in pred_adv],
    ncols=8,
)
plt.show()

# %% [markdown]
# ## Adversarial training
#
# `robustness.adversarial_fit` trains on a half-and-half mix: each batch's loss averages the
# loss on the clean images and on FGSM versions of them (epsilon 0.1), made on the fly against
# the current weights. One robust model per seed, each paired with that seed's plain model:
# same initial weights, same data order, same epochs.

# %% tags=["nbval-ignore-output"]
robust_models = []
for seed in S["seeds"]:
    seed_everything(seed)
    model = models.compact_cnn(name=f"adversarial_seed{seed}")
    adv_history = robustness.adversarial_fit(
        model,
        x_train,
        y_train,
        epochs=S["epochs"],
        epsilon=0.1,
        seed=seed,
        validation=(x_val, y_val),
    )
    val_curves["adversarial", seed] = adv_history["val_accuracy"]
    robust_models.append(model)
robust = robust_models[0]
print(
    f"adversarial training took {adv_history['seconds']:.0f} s per model; clean"
    f" validation accuracy, first seed: {accuracy(robust, x_val, y_val):.4f} (plain:"
    f" {accuracy(standard, x_val, y_val):.4f})"
)

# %% [markdown]
# Before any model is judged: did it learn all it could in its budget? The curves below are
# each model's clean validation accuracy after every epoch; the course calls a model
# converged when it rose by less than one validation standard error over the last quarter
# of its epochs (`claims.converged`).

# %% tags=["nbval-ignore-output"]
fig, ax = plt.subplots(figsize=(6, 3.5))
colours = {"plain": "tab:blue", "augmented": "tab:orange", "adversarial": "tab:red"}
for (kind, seed), curve in val_curves.items():
    ax.plot(
        np.arange(1, len(curve) + 1),
        np.array(curve) * 100,
        color=colours[kind],
        alpha=0.6,
        label=kind if seed == S["seeds"][0] else None,
    )
ax.set(xlabel="epoch", ylabel="clean validation accuracy (%)")
ax.grid(alpha=0.3)
ax.legend()
plt.show()
flat = {
    kind: sum(
        claims.converged(c, len(y_val)) for (k, _), c in val_curves.items() if k == kind
    )
    for kind in colours
}
print(
    f"Converged by that criterion, of {len(S['seeds'])} seed(s) each: "
    + ", ".join(f"{kind} {n}" for kind, n in flat.items())
    + ". A claim that rests on a model still rising is 'not testable here (budget)'."
)

# %% [markdown]
# ## Robustness curves
#
# Three kinds of "noise", each at several strengths, for both models:
#
# - **FGSM** at epsilon 0 to 0.3: the one-step attack the robust model was trained on;
# - **PGD**: many small FGSM steps from a random start, projected back into the epsilon-ball;
#   the stronger attack, and the honest test of robustness;
# - **Gaussian noise** with sigma 0.1 to 0.5: random, not adversarial.
#
# PGD as the package runs it (the FGSM step inside is the gradient shown above):

# %%
Code(inspect.getsource(robustness.pgd), language="python")

# %% [markdown]
# The curves:

# %% tags=["nbval-ignore-output"]
curves = {
    name: {"fgsm": [], "pgd": [], "noise": []} for name in ("standard", "adversarial")
}
start = time.perf_counter()
for name, model in (("standard", standard), ("adversarial", robust)):
    for eps in EPSILONS:
        x_f = x_eval if eps == 0 else robustness.fgsm(model, x_eval, y_eval, eps)
        x_p = (
            x_eval
            if eps == 0
            else robustness.pgd(
                model, x_eval, y_eval, eps, steps=S["pgd_steps"], seed=SEED
            )
        )
        curves[name]["fgsm"].append(accuracy(model, x_f, y_eval) * 100)
        curves[name]["pgd"].append(accuracy(model, x_p, y_eval) * 100)
    for sigma in SIGMAS:
        x_n = robustness.gaussian_noise(x_eval, sigma, seed=SEED) if sigma else x_eval
        curves[name]["noise"].append(accuracy(model, x_n, y_eval) * 100)
print(f"evaluated in {time.perf_counter() - start:.0f} s")

# %% tags=["nbval-ignore-output"]
fig, axes = plt.subplots(1, 3, figsize=(13, 3.8), sharey=True)
for ax, kind, xs, label in (
    (axes[0], "fgsm", EPSILONS, "FGSM epsilon"),
    (axes[1], "pgd", EPSILONS, f"PGD epsilon ({S['pgd_steps']} steps)"),
    (axes[2], "noise", SIGMAS, "Gaussian noise sigma"),
):
    for name, color in (("standard", "tab:blue"), ("adversarial", "tab:red")):
        ax.plot(xs, curves[name][kind], marker="o", color=color, label=name)
    ax.set(xlabel=label, title=kind.upper() if kind != "noise" else "Gaussian noise")
    ax.grid(alpha=0.3)
axes[0].set_ylabel("test accuracy (%)")
axes[0].legend()
fig.tight_layout()
plt.show()
markdown_table(
    ["model", "attack"] + [f"{e}" for e in EPSILONS],
    [
        [n, k] + [f"{v:.1f}" for v in curves[n][k]]
        for n in curves
        for k in ("fgsm", "pgd")
    ]
    + [
        [n, "noise (sigma " + ", ".join(f"{s}" for s in SIGMAS) + ")"]
        + [f"{v:.1f}" for v in curves[n]["noise"]]
        for n in curves
    ],
)

# %% [markdown]
# ### FGSM against PGD: gradient masking
#
# A model can look robust to FGSM without being robust: if training makes the loss surface
# jagged or flat near the data, a single gradient step points nowhere useful, yet a nearby
# adversarial example still exists. That is *gradient masking*. PGD, which takes many small
# steps from a random start, finds such examples; a large gap between FGSM and PGD accuracy at
# the same epsilon is its signature. The cell computes the gap for both models.

# %% tags=["nbval-ignore-output"]
i01 = EPSILONS.index(0.1)
for name in curves:
    gap = curves[name]["fgsm"][i01] - curves[name]["pgd"][i01]
    print(
        f"{name:12} at epsilon 0.1: FGSM {curves[name]['fgsm'][i01]:.1f}%, "
        f"PGD {curves[name]['pgd'][i01]:.1f}%, gap {gap:.1f} points"
    )

# %% [markdown]
# ### Every seed, paired
#
# The curves above come from one pair of models. The claim is judged on all of them: for each
# seed, the robust model's accuracy minus its plain twin's, under Gaussian noise (mean over
# sigma 0.1 to 0.5) and under FGSM and PGD at epsilon 0.1.

# %% tags=["nbval-ignore-output"]
gains_by_kind = {"noise": [], "fgsm": [], "pgd": []}
for seed, plain_model, robust_model in zip(S["seeds"], plain_models, robust_models):
    scores = {}
    for name, model in (("plain", plain_model), ("robust", robust_model)):
        noisy = [
            accuracy(model, robustness.gaussian_noise(x_eval, sigma, seed=seed), y_eval)
            for sigma in SIGMAS[1:]
        ]
        scores[name] = {
            "noise": np.mean(noisy) * 100,
            "fgsm": (
                accuracy(model, robustness.fgsm(model, x_eval, y_eval, 0.1), y_eval)
                * 100
            ),
            "pgd": (
                accuracy(
                    model,
                    robustness.pgd(
                        model, x_eval, y_eval, 0.1, steps=S["pgd_steps"], seed=seed
                    ),
                    y_eval,
                )
                * 100
            ),
        }
    for kind in gains_by_kind:
        gains_by_kind[kind].append(scores["robust"][kind] - scores["plain"][kind])
# accuracy differences in points: equal ones differ by less than one image
gain_intervals = {
    kind: claims.paired_difference(g, np.zeros(len(g)), resolution=100 / len(y_eval))
    for kind, g in gains_by_kind.items()
}
markdown_table(
    ["robust - plain (points)"]
    + [f"seed {s}" for s in S["seeds"]]
    + ["mean (95% t-interval)"],
    [
        [kind]
        + [f"{g:+.1f}" for g in gains_by_kind[kind]]
        + [
            f"{gain_intervals[kind].estimate:+.1f} ({gain_intervals[kind].low:+.1f} to "
            f"{gain_intervals[kind].high:+.1f})"
        ]
        for kind in gains_by_kind
    ],
)

# %% [markdown]
# ## Claims check

# %% tags=["nbval-ignore-output"]
ratio = counts[1] / counts[9]
c6 = claims.judge(
    "C6", claims.exact(ratio, ratio / counts[9], "exact count, training files")
)
converged = {
    f"{kind} (seed {seed})": claims.converged(curve, len(y_val))
    for (kind, seed), curve in val_curves.items()
}


def models_of(*kinds: str) -> dict:
    return {name: ok for name, ok in converged.items() if name.split(" (")[0] in kinds}


tilted_idx = [ANGLES.index(a) for a in ANGLES if a > 0]
tilt_gain = claims.paired_difference(
    tilt_acc["augmented"][:, tilted_idx].mean(axis=1),
    tilt_acc["plain"][:, tilted_idx].mean(axis=1),
    resolution=100 / len(y_eval),
)
c7 = claims.judge("C7", tilt_gain, converged=models_of("plain", "augmented"))
c8 = claims.judge(
    "C8", gain_intervals["noise"], converged=models_of("plain", "adversarial")
)


def shown(interval: claims.Interval) -> str:
    return (
        f"{interval.estimate:+.2f} points (interval {interval.low:+.2f} to"
        f" {interval.high:+.2f})"
    )


claims_table([
    Claim(
        "C6",
        f"{ratio:.2f}x; augmentation left every class count unchanged "
        f"({counts_unchanged})",
        c6,
        f"Digit {int(counts.argmax())} is the most frequent; augmentation copies"
        " labels, so it cannot rebalance (chapter 06 uses class weights).",
    ),
    Claim(
        "C7",
        f"{shown(tilt_gain)} averaged over the 15-45 degree tilts, "
        f"{len(S['seeds'])} paired seed(s)",
        c7,
        f"Compact CNN, {S['n_train']:,} images, {S['epochs']} epochs. Mean gain by"
        " tilt: "
        + ", ".join(
            f"{a}°: {g:+.2f}"
            for a, g in zip(ANGLES, (tilt_acc["augmented"] - tilt_acc["plain"]).mean(0))
        )
        + "; the policy itself only rotates up to 15°.",
    ),
    Claim(
        "C8",
        f"Gaussian noise (sigma 0.1-0.5, mean): {shown(gain_intervals['noise'])}; "
        f"FGSM eps 0.1: {shown(gain_intervals['fgsm'])}; PGD eps 0.1: "
        f"{shown(gain_intervals['pgd'])}; {len(S['seeds'])} paired seed(s)",
        c8,
        "The article does not say which noise; the verdict takes random (Gaussian)"
        " noise. Adversarial noise is a different test, and the PGD row is the one that"
        " measures robustness.",
    ),
])

# %% [markdown]
# ## Exercises
#
# Solutions: `solutions/03_augmentation_adversarial_solutions.ipynb`.
#
# **Exercise 1.** Implement FGSM from scratch: `my_fgsm(model, images, labels, epsilon)` for
# a model that outputs logits, on float32 NumPy images in [0, 1]. Use `tf.GradientTape`; do
# not call `robustness.fgsm`.


# %%
def my_fgsm(
    model, images: np.ndarray, labels: np.ndarray, epsilon: float
) -> np.ndarray:
    raise NotImplementedError


check.fgsm(my_fgsm)

# %% [markdown]
# **Exercise 2.** Write `make_random_erasing(probability)` returning a Keras layer that, in
# training only, blanks a random rectangle (up to half the image's side) in each image with
# the given probability, and leaves images untouched at inference.


# %%
def make_random_erasing(probability: float = 0.5) -> keras.layers.Layer:
    raise NotImplementedError


check.random_erasing(make_random_erasing)

# %% [markdown]
# **Exercise 3.** Evaluate a model under an attack of your choice: write
# `attack_and_score(model, images, labels)` returning `(accuracy, perturbed_images)`, with the
# perturbed images in [0, 1] and no pixel moved by more than epsilon = 0.1 (the L-infinity
# budget of this chapter's attacks). The checker runs it on a trained model and checks the
# budget, that the accuracy is honest (it matches the model's predictions on your images) and
# that it is lower than on clean images. Then explain in a Markdown cell what your result says about the model.


# %%
def attack_and_score(model, images: np.ndarray, labels: np.ndarray):
    raise NotImplementedError


check.attack_evaluation(attack_and_score)
