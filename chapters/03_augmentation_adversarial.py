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
# - see why four stacked transform layers blur the digits, and compose them into one
#   resampling;
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
import inspect
import math
import os
import time

CHAPTER_START = time.perf_counter()

from mnist_course.course.profile import (
    active_profile,
    import_tensorflow,
    seed_everything,
)

tf = import_tensorflow()  # TensorFlow, without its C++ start-up log lines
import keras
import matplotlib.pyplot as plt
import numpy as np
from IPython.display import Code, display

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
    # all); n_fit: clean training images each model is scored on after training; seeds:
    # paired repeats of every experiment; n_eval: test images under each attack;
    # pgd_steps: iterations of PGD; epsilons: attack strengths on the robustness curves
    "quick": {
        "n_train": 2_000,
        "n_val": 1_000,
        "n_fit": 1_000,
        "epochs": 1,
        "seeds": [0],
        "n_eval": 200,
        "pgd_steps": 3,
        "epsilons": [0.0, 0.1, 0.3],
    },
    "full": {
        "n_train": 10_000,
        "n_val": None,
        "n_fit": 5_000,
        "epochs": 12,
        "seeds": [0, 1, 2, 3, 4],
        "n_eval": 2_000,
        "pgd_steps": 10,
        "epsilons": [0.0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3],
    },
}
SIGMAS = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5]
ANGLES = [0, 15, 30, 45]
TRAIN_EPSILON = 0.1  # the FGSM strength adversarial training uses (the article's)

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

# %% tags=["nbval-ignore-output"]
digit = x_train[:1]
variants = np.concatenate([policy(np.repeat(digit, 15, axis=0), training=True).numpy()])
image_grid(np.concatenate([digit, variants]), ["original"] + [""] * 15, ncols=8)
plt.show()


def ink_centre(images):
    """(row, column) of each image's centre of ink, in pixels."""
    ink = images[..., 0]
    total = ink.sum(axis=(1, 2))
    return np.stack(
        [(ink * g).sum(axis=(1, 2)) / total for g in np.indices((28, 28))], axis=1
    )


centre_shift = np.linalg.norm(ink_centre(variants) - ink_centre(digit), axis=1)
ink_kept = variants.sum(axis=(1, 2, 3)) / digit.sum()
print(
    f"Over the {len(variants)} draws the digit's centre of ink moves by"
    f" {centre_shift.min():.1f} to {centre_shift.max():.1f} pixels (mean"
    f" {centre_shift.mean():.1f}), and"
    f" its total ink is {ink_kept.min():.0%} to {ink_kept.max():.0%} of the"
    " original's: the policy moves, turns and stretches the digit a little; it does"
    " not draw a new one."
)

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

# %% tags=["nbval-ignore-output"]
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
solid_here = {
    name: float(np.mean(images[images > 0.1] > 0.9)) * 100
    for name, images in (
        ("the original", digit),
        ("the Keras layers", variants[:8]),
        ("ImageDataGenerator", legacy_variants),
    )
}
print(
    "Of this digit's inked pixels (above 0.1), the share that is solid (above 0.9): "
    + ", ".join(f"{name} {share:.0f}%" for name, share in solid_here.items())
    + ". The layers' strokes are "
    + (
        "softer than ImageDataGenerator's"
        if solid_here["the Keras layers"] < solid_here["ImageDataGenerator"]
        else "no softer than ImageDataGenerator's on this digit"
    )
    + "; the next section measures why, on more digits."
)

# %% [markdown]
# ### Four layers, four resamplings
#
# Each Keras layer draws its own transform and resamples the image with bilinear
# interpolation, which averages neighbouring pixels. Four layers resample four times, so
# the strokes come out softer than any digit the model will be tested on.
# `ImageDataGenerator` composes its transforms into one affine matrix and resamples once.
# The same policy in one resampling is a short layer: draw the four transforms for each
# image, multiply their matrices, and hand the product to TensorFlow's projective
# transform, which reads every output pixel from the input once.


# %%
class GeometricAugmentation(keras.layers.Layer):
    """Rotation (degrees), shear, zoom and shift (fractions of the image) drawn per
    image and composed into one affine map, so each image is interpolated once; empty
    corners are filled with 0. Active only with ``training=True``."""

    def __init__(self, rotation=15.0, shift=0.1, zoom=0.1, shear=0.1, seed=None, **kw):
        super().__init__(**kw)
        self.rotation, self.shift, self.zoom, self.shear = rotation, shift, zoom, shear
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=False):
        if not training:
            return images
        n, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
        u = keras.random.uniform((n, 6), -1.0, 1.0, seed=self.generator)
        angle = u[:, 0] * self.rotation * math.pi / 180
        cos, sin, one = tf.cos(angle), tf.sin(angle), tf.ones_like(angle)
        rotate = tf.stack([tf.stack([cos, -sin], -1), tf.stack([sin, cos], -1)], -2)
        shear_x, shear_y = u[:, 1] * self.shear, u[:, 2] * self.shear
        shear = tf.stack(
            [tf.stack([one, shear_x], -1), tf.stack([shear_y, one], -1)], -2
        )
        zoom = 1.0 + u[:, 3] * self.zoom
        # where each output pixel (x, y) is read in the input: about the image's centre
        matrix = rotate @ shear / zoom[:, None, None]
        centre = tf.constant([[(width - 1) / 2], [(height - 1) / 2]])
        shift = tf.stack([u[:, 4] * width, u[:, 5] * height], -1) * self.shift
        offset = centre - matrix @ centre - shift[..., None]
        transforms = tf.concat(
            [matrix[:, 0], offset[:, 0], matrix[:, 1], offset[:, 1], 0 * u[:, :2]], 1
        )
        return tf.raw_ops.ImageProjectiveTransformV3(
            images=images,
            transforms=transforms,
            output_shape=[height, width],
            fill_value=0.0,
            interpolation="BILINEAR",
            fill_mode="CONSTANT",
        )


# %% [markdown]
# Eight draws of each, from the same digit, and how much of the ink stays solid: the share
# of inked pixels (above 0.1) that are near black (above 0.9), over 2,000 training digits.

# %% tags=["nbval-ignore-output"]
one_pass = GeometricAugmentation(seed=SEED)
one_pass_variants = one_pass(np.repeat(digit, 8, axis=0), training=True).numpy()
image_grid(
    np.concatenate([variants[:8], one_pass_variants]),
    ["four layers"] + [""] * 7 + ["one resampling"] + [""] * 7,
    ncols=8,
)
plt.show()
sample = x_train[:2_000]
solid = {
    name: float(np.mean(images[images > 0.1] > 0.9)) * 100
    for name, images in (
        ("original digits", sample),
        ("one resampling", one_pass(sample, training=True).numpy()),
        ("four Keras layers", policy(sample, training=True).numpy()),
    )
}
display(markdown_table(
    ["images", "solid share of the ink (%)"],
    [[k, f"{v:.1f}"] for k, v in solid.items()],
))
print(
    f"Of the inked pixels, {solid['original digits']:.1f}% are solid in the original"
    f" digits, {solid['one resampling']:.1f}% after one resampling and"
    f" {solid['four Keras layers']:.1f}% after the four layers: the stack leaves"
    f" {solid['original digits'] / solid['four Keras layers']:.1f} times fewer solid"
    f" pixels than the test digits have, one resampling"
    f" {solid['original digits'] / solid['one resampling']:.1f} times fewer."
)
assert solid["one resampling"] > solid["four Keras layers"]

# %% [markdown]
# A model trained on the four-layer stream learns from blurrier digits than it is tested
# on: a mismatch between training and test that has nothing to do with geometry, and that
# an accuracy loss on upright digits would be blamed on augmentation for. This chapter's
# augmented models therefore train with `GeometricAugmentation`: the article's policy,
# applied the way its `ImageDataGenerator` applies it.

# %% [markdown]
# ## Tilted digits (C7)
#
# To test "accuracy on tilted digits" we need tilted digits. `robustness.tilted_set` rotates
# the test images by 15, 30 and 45 degrees, each image clockwise or counter-clockwise at
# random (fixed by the seed), labels unchanged.

# %% tags=["nbval-ignore-output"]
tilted = robustness.tilted_set(split.x_test[: S["n_eval"]], ANGLES, seed=SEED)
image_grid(
    np.concatenate([tilted[a][:6] for a in ANGLES]),
    [f"{a}°" if i == 0 else "" for a in ANGLES for i in range(6)],
    ncols=6,
)
plt.show()
upright_ink = split.x_test[: S["n_eval"]] > 0
still_inked = {
    a: 100 * float((upright_ink & (tilted[a] > 0)).sum() / upright_ink.sum())
    for a in ANGLES[1:]
}
print(
    f"Of the upright digits' inked pixels ({len(upright_ink):,} test digits), the share"
    " still inked after the tilt: "
    + ", ".join(f"{a}° {share:.0f}%" for a, share in still_inked.items())
    + f". At {ANGLES[-1]}° a model that learnt where upright strokes lie finds"
    f" {100 - still_inked[ANGLES[-1]]:.0f}% of them gone."
)

# %% [markdown]
# ## Three treatments, paired by seed
#
# Every comparison in this chapter is between treatments of the same compact CNN, once per
# seed: **plain**, **augmented** (the policy above) and **adversarial** (further down).
# Within a seed, all three start from the same weights (built right after the same
# `seed_everything`) and see the same images in the same order (`training.batches`
# shuffles with the seed, with or without augmentation, and `adversarial_fit` uses the
# same stream): a paired comparison, so a difference is the treatment's doing. Each model
# trains for the same number of epochs, and is judged only once its validation curve has
# gone flat.

# %% tags=["nbval-ignore-output"]
KINDS = ("plain", "augmented", "adversarial")
histories, trained = {}, {}


def train(kind: str, seed: int) -> None:
    """Train one model of a treatment; keep it and its history."""
    seed_everything(seed)
    model = models.compact_cnn(name=f"{kind}_seed{seed}")
    if kind == "adversarial":
        history = robustness.adversarial_fit(
            model,
            x_train,
            y_train,
            epochs=S["epochs"],
            epsilon=TRAIN_EPSILON,
            seed=seed,
            validation=(x_val, y_val),
        )
    else:
        augment = GeometricAugmentation(seed=seed) if kind == "augmented" else None
        history = training.fit(
            model,
            x_train,
            y_train,
            (x_val, y_val),
            epochs=S["epochs"],
            augment=augment,
            seed=seed,
        )
    histories[kind, seed], trained[kind, seed] = history, model


for seed in S["seeds"]:
    for kind in ("plain", "augmented"):
        train(kind, seed)

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
Code(
    "\n\n".join(
        inspect.getsource(f)
        for f in (robustness._loss_gradient, robustness._fgsm_step, robustness.fgsm)
    ),
    language="python",
)

# %% [markdown]
# Against the plain model of the first seed, with the article's epsilon:

# %% tags=["nbval-ignore-output"]
FIRST = S["seeds"][0]
standard = trained["plain", FIRST]
shown_x, shown_y = x_eval[:8], y_eval[:8]
adversarial = robustness.fgsm(standard, shown_x, shown_y, epsilon=TRAIN_EPSILON)
pred_clean = standard.predict(shown_x, verbose=0).argmax(-1)
pred_adv = standard.predict(adversarial, verbose=0).argmax(-1)
image_grid(
    np.concatenate([shown_x, adversarial]),
    [f"clean: {p}" for p in pred_clean] + [f"FGSM: {p}" for p in pred_adv],
    ncols=8,
)
plt.show()
print(
    f"FGSM at epsilon {TRAIN_EPSILON} changed {int(np.sum(pred_adv != pred_clean))} of"
    f" these {len(shown_y)} predictions ({int(np.sum(pred_clean == shown_y))} were"
    f" right on the clean digits, {int(np.sum(pred_adv == shown_y))} are right after"
    " the"
    f" attack); no pixel moved by more than"
    f" {float(np.abs(adversarial - shown_x).max()):.2f}."
)

# %% [markdown]
# ## Adversarial training
#
# `robustness.adversarial_fit` trains on a mix: each batch's loss averages the loss on the
# clean images and on FGSM versions of them, made on the fly against the current weights.
# Its signature gives the mix and the attack's strength:

# %%
print("adversarial_fit" + str(inspect.signature(robustness.adversarial_fit)))

# %% [markdown]
# and this is its training step, read from the package as it runs now. It is the whole
# lesson of C8 in a dozen lines:
#
# - the FGSM images are made *inside* the step, against the weights of this very step:
#   attacks made once against a finished model would go stale as the model learns;
# - `tf.stop_gradient` makes them data: the weights' gradient does not flow back through
#   the construction of the attack (that would be a different, second-order method);
# - the loss weighs the clean and the adversarial batch by `clean_share`: the model is
#   asked to stay right on clean digits while it learns to resist the attack.

# %%
source = inspect.getsource(robustness.adversarial_fit)
begin, end = source.index("    @tf.function"), source.index("        return loss")
Code(source[begin : end + len("        return loss")], language="python")

# %% [markdown]
# One adversarial model per seed, paired with that seed's plain and augmented models:

# %% tags=["nbval-ignore-output"]
for seed in S["seeds"]:
    train("adversarial", seed)

# %% [markdown]
# ## Did every model learn all it could?
#
# Before any model is judged: each model's training loss and clean validation accuracy
# after every epoch, and how well it fits its own (clean) training images at the end. The
# course calls a model converged when its validation accuracy rose by less than one
# validation standard error over the last quarter of its epochs (`claims.converged`). The
# adversarial model's loss is its mixture (clean and FGSM), so its curve sits higher than
# the others' by construction.

# %% tags=["nbval-ignore-output"]
COLOURS = {"plain": "tab:blue", "augmented": "tab:orange", "adversarial": "tab:red"}
fit_x, fit_y = x_train[: S["n_fit"]], y_train[: S["n_fit"]]
fit_acc = {key: accuracy(model, fit_x, fit_y) * 100 for key, model in trained.items()}
val_acc = {key: h["val_accuracy"][-1] * 100 for key, h in histories.items()}
quarter = max(1, S["epochs"] // 4)
rise = {
    key: (
        h["val_accuracy"][-1] - h["val_accuracy"][max(0, len(h["loss"]) - 1 - quarter)]
    )
    * 100
    for key, h in histories.items()
}
converged = {
    key: claims.converged(h["val_accuracy"], len(y_val)) for key, h in histories.items()
}
fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
for (kind, seed), h in histories.items():
    epochs = np.arange(1, len(h["loss"]) + 1)
    label = kind if seed == FIRST else None
    axes[0].plot(epochs, h["loss"], color=COLOURS[kind], alpha=0.6, label=label)
    axes[1].plot(
        epochs, np.array(h["val_accuracy"]) * 100, color=COLOURS[kind], alpha=0.6
    )
axes[0].set(xlabel="epoch", ylabel="training loss", yscale="log")
axes[1].set(xlabel="epoch", ylabel="clean validation accuracy (%)")
for ax in axes:
    ax.grid(alpha=0.3)
axes[0].legend()
fig.tight_layout()
plt.show()


def per_kind(values: dict, kind: str) -> np.ndarray:
    return np.array([values[kind, seed] for seed in S["seeds"]], dtype=float)


display(markdown_table(
    [
        "treatment",
        f"training accuracy, {S['n_fit']:,} clean training images (%)",
        "validation accuracy (%)",
        f"rise over the last {quarter} epoch(s) (points)",
        "converged",
    ],
    [
        [
            kind,
            f"{per_kind(fit_acc, kind).mean():.2f}",
            f"{per_kind(val_acc, kind).mean():.2f}",
            f"{per_kind(rise, kind).mean():+.2f}",
            f"{int(per_kind(converged, kind).sum())} of {len(S['seeds'])}",
        ]
        for kind in KINDS
    ],
))
p_val = per_kind(val_acc, "plain").mean() / 100
val_se = math.sqrt(p_val * (1 - p_val) / len(y_val)) * 100
moved = {
    kind: per_kind(val_acc, kind).mean() - per_kind(val_acc, "plain").mean()
    for kind in KINDS
}
gaps = {
    kind: per_kind(fit_acc, kind).mean() - per_kind(val_acc, kind).mean()
    for kind in KINDS
}
print(
    f"Means over {len(S['seeds'])} seed(s): "
    + "; ".join(
        f"{kind} models fit their training images to"
        f" {per_kind(fit_acc, kind).mean():.2f}% and validate at"
        f" {per_kind(val_acc, kind).mean():.2f}%"
        for kind in KINDS
    )
    + f". {sum(converged.values())} of {len(converged)} models converged (one"
    f" validation standard error is {val_se:.2f} points). Against the plain models,"
    f" augmentation moves clean validation accuracy by {moved['augmented']:+.2f} points"
    f" and adversarial training by {moved['adversarial']:+.2f};"
    f" the widest train-validation gap is the {max(gaps, key=gaps.get)} models'"
    f" ({max(gaps.values()):+.2f} points)."
)

# %% [markdown]
# ### Accuracy on tilted digits
#
# Each plain and augmented model, scored at each tilt:

# %% tags=["nbval-ignore-output"]
tilt_acc = {
    kind: np.array(
        [
            [
                accuracy(trained[kind, seed], data.to_model_input(tilted[a]), y_eval)
                * 100
                for a in ANGLES
            ]
            for seed in S["seeds"]
        ]
    )
    for kind in ("plain", "augmented")
}  # (seeds, angles)
fig, ax = plt.subplots(figsize=(6, 4))
for kind in tilt_acc:
    mean, low, high = (
        tilt_acc[kind].mean(0),
        tilt_acc[kind].min(0),
        tilt_acc[kind].max(0),
    )
    ax.plot(
        ANGLES,
        mean,
        marker="o",
        color=COLOURS[kind],
        label=f"{kind} (mean of {len(S['seeds'])})",
    )
    ax.fill_between(ANGLES, low, high, color=COLOURS[kind], alpha=0.2)
ax.set(
    xlabel="tilt (degrees)",
    ylabel="test accuracy (%)",
    xticks=ANGLES,
    title="Accuracy on tilted digits, band = min to max over seeds",
)
ax.grid(alpha=0.3)
ax.legend()
plt.show()
tilt_gain_by_angle = (tilt_acc["augmented"] - tilt_acc["plain"]).mean(0)
display(markdown_table(
    ["tilt"] + [f"{a}°" for a in ANGLES],
    [[k] + [f"{m:.2f}" for m in tilt_acc[k].mean(0)] for k in tilt_acc]
    + [["gain (points)"] + [f"{d:+.2f}" for d in tilt_gain_by_angle]],
))
rotation = GeometricAugmentation().rotation
print(
    "Mean gain of augmentation: "
    + ", ".join(f"{g:+.2f} points at {a}°" for a, g in zip(ANGLES, tilt_gain_by_angle))
    + f". The plain models lose"
    f" {tilt_acc['plain'].mean(0)[0] - tilt_acc['plain'].mean(0)[-1]:.1f} points"
    " between"
    f" upright and {ANGLES[-1]}°, the augmented ones"
    f" {tilt_acc['augmented'].mean(0)[0] - tilt_acc['augmented'].mean(0)[-1]:.1f}; the"
    f" policy rotates by at most {rotation:.0f}°, so the tilts beyond it are"
    f" {', '.join(f'{a}°' for a in ANGLES if a > rotation)}, outside what it trained"
    " on."
    f" Whether the gain is decided comes from the paired seeds, below."
)

# %% [markdown]
# ## Robustness curves
#
# Three kinds of "noise", each at several strengths, for the plain and the adversarial
# model of the first seed:
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
robust = trained["adversarial", FIRST]
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
display(markdown_table(
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
))
i_train, i_sigma = EPSILONS.index(TRAIN_EPSILON), SIGMAS.index(0.3)
print(
    f"At epsilon {TRAIN_EPSILON} the adversarial model keeps"
    f" {curves['adversarial']['fgsm'][i_train]:.1f}% under FGSM and"
    f" {curves['adversarial']['pgd'][i_train]:.1f}% under PGD, the plain one"
    f" {curves['standard']['fgsm'][i_train]:.1f}% and"
    f" {curves['standard']['pgd'][i_train]:.1f}%; under Gaussian noise of sigma"
    f" {SIGMAS[i_sigma]} they keep {curves['adversarial']['noise'][i_sigma]:.1f}% and"
    f" {curves['standard']['noise'][i_sigma]:.1f}%. At the largest epsilon,"
    f" {EPSILONS[-1]}, PGD leaves them {curves['adversarial']['pgd'][-1]:.1f}% and"
    f" {curves['standard']['pgd'][-1]:.1f}%: "
    + (
        "far beyond the strength it trained at, the defence gives way."
        if curves["adversarial"]["pgd"][-1] <= 10
        else "the defence still holds above chance there."
    )
)

# %% [markdown]
# ### Every seed, paired
#
# The curves above come from one pair of models. The claims are judged on all of them: for
# each seed, the robust model's accuracy minus its plain twin's, under Gaussian noise (mean
# over sigma 0.1 to 0.5) and under FGSM and PGD at the training epsilon.

# %% tags=["nbval-ignore-output"]
scores = {}
for seed in S["seeds"]:
    for kind in ("plain", "adversarial"):
        model = trained[kind, seed]
        noisy = [
            accuracy(model, robustness.gaussian_noise(x_eval, sigma, seed=seed), y_eval)
            for sigma in SIGMAS[1:]
        ]
        x_f = robustness.fgsm(model, x_eval, y_eval, TRAIN_EPSILON)
        x_p = robustness.pgd(
            model, x_eval, y_eval, TRAIN_EPSILON, steps=S["pgd_steps"], seed=seed
        )
        scores[kind, seed] = {
            "noise": np.mean(noisy) * 100,
            "fgsm": accuracy(model, x_f, y_eval) * 100,
            "pgd": accuracy(model, x_p, y_eval) * 100,
        }
ATTACKS = ("noise", "fgsm", "pgd")
gains_by_kind = {
    attack: np.array(
        [
            scores["adversarial", s][attack] - scores["plain", s][attack]
            for s in S["seeds"]
        ]
    )
    for attack in ATTACKS
}
# accuracy differences in points: equal ones differ by less than one image
RESOLUTION = 100 / len(y_eval)
gain_intervals = {
    attack: claims.paired_difference(
        [scores["adversarial", s][attack] for s in S["seeds"]],
        [scores["plain", s][attack] for s in S["seeds"]],
        resolution=RESOLUTION,
    )
    for attack in ATTACKS
}
display(markdown_table(
    ["robust - plain (points)"]
    + [f"seed {s}" for s in S["seeds"]]
    + ["mean (95% t-interval)"],
    [
        [attack]
        + [f"{g:+.1f}" for g in gains_by_kind[attack]]
        + [
            f"{gain_intervals[attack].estimate:+.1f} ({gain_intervals[attack].low:+.1f}"
            f" to {gain_intervals[attack].high:+.1f})"
        ]
        for attack in ATTACKS
    ],
))
print(
    "Adversarial training gains, mean over the paired seeds: "
    + "; ".join(
        f"{attack} {gain_intervals[attack].estimate:+.1f} points"
        f" ({int(np.sum(gains_by_kind[attack] > 0))} of {len(S['seeds'])} seeds gain)"
        for attack in ATTACKS
    )
    + f". The gain is largest under"
    f" {max(ATTACKS, key=lambda a: gain_intervals[a].estimate)}; whether each is"
    " decided comes from its interval (the last column)."
)

# %% [markdown]
# ### The two claims, seed by seed
#
# C7 and C8 are differences between paired treatments. Each dot below is one seed's
# difference; the bar is the 95% t-interval of their mean, the dashed line the article's
# value, the dotted line the lower edge of the region that counts as the claim holding.

# %% tags=["nbval-ignore-output"]
tilted_idx = [ANGLES.index(a) for a in ANGLES if a > 0]
tilt_treated = tilt_acc["augmented"][:, tilted_idx].mean(axis=1)
tilt_control = tilt_acc["plain"][:, tilted_idx].mean(axis=1)
tilt_gain = claims.paired_difference(tilt_treated, tilt_control, resolution=RESOLUTION)
paired = {
    "C7": (
        tilt_treated - tilt_control,
        tilt_gain,
        "augmented - plain, tilted (points)",
    ),
    "C8": (
        gains_by_kind["noise"],
        gain_intervals["noise"],
        "adversarial - plain, noise",
    ),
}
fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
for ax, (cid, (diffs, interval, label)) in zip(axes, paired.items()):
    reading = claims.READINGS[cid].parts[""]
    ax.scatter(S["seeds"], diffs, color="tab:gray", zorder=3, label="one seed")
    middle = np.mean(S["seeds"])
    high = interval.high if math.isfinite(interval.high) else max(diffs)
    low = interval.low if math.isfinite(interval.low) else min(diffs)
    ax.errorbar(
        [middle],
        [interval.estimate],
        yerr=[[interval.estimate - low], [high - interval.estimate]],
        color="black",
        capsize=6,
        marker="s",
        label="mean, 95% interval",
    )
    ax.axhline(reading.claimed, color="tab:green", ls="--", label="the article")
    ax.axhline(reading.region[0], color="tab:green", ls=":", label="region's edge")
    ax.axhline(0, color="black", lw=0.8)
    ax.set(title=f"{cid}: {label}", xlabel="seed", xticks=S["seeds"])
    ax.grid(alpha=0.3)
axes[0].set_ylabel("difference (points)")
axes[1].legend(fontsize=8)
fig.tight_layout()
plt.show()


def where(interval: claims.Interval, cid: str) -> str:
    """Where an interval lies against a claim's region, in words."""
    edge = claims.READINGS[cid].parts[""].region[0]
    if interval.low >= edge:
        return f"wholly inside the region from {edge:g} up"
    if interval.high < edge:
        return f"wholly below the region's edge at {edge:g}"
    return f"across the region's edge at {edge:g}"


print(
    " ".join(
        f"{cid}: {int(np.sum(diffs > 0))} of {len(diffs)} seeds gain, the mean gain is"
        f" {interval.estimate:+.2f} points (interval {interval.low:+.2f} to"
        f" {interval.high:+.2f}), {where(interval, cid)} (the article says"
        f" {claims.READINGS[cid].parts[''].claimed:+g})."
        for cid, (diffs, interval, _) in paired.items()
    )
)

# %% [markdown]
# ### FGSM against PGD: gradient masking
#
# A defence can look robust to FGSM without being robust: if training makes the loss
# surface jagged or flat near the data, a single gradient step points nowhere useful, yet
# a nearby adversarial example still exists. That is *gradient masking*, and it is a
# property of a **defended** model. A gap between FGSM and PGD accuracy by itself says
# nothing: PGD is the stronger attack, so an undefended model shows a wide gap too (the
# table above has it). The signature of masking is a defence whose advantage *shrinks*
# under the stronger attack, so the check compares the two models, seed by seed:
#
# 1. the defence's gain under PGD is at least its gain under FGSM (for each seed,
#    `(FGSM - PGD)` of the adversarial model minus that of its plain twin; masking would
#    make this positive);
# 2. the iterative attack is at least as strong as the one-step attack on the defended
#    model (PGD accuracy at most FGSM accuracy, every seed);
# 3. a large enough budget still breaks the defended model (PGD at the largest epsilon
#    leaves at most chance, 10%).

# %% tags=["nbval-ignore-output"]
masking_gap = claims.t_interval(
    gains_by_kind["fgsm"] - gains_by_kind["pgd"],
    what="paired seeds",
    resolution=RESOLUTION,
)
iterative_stronger = all(
    scores["adversarial", s]["pgd"] <= scores["adversarial", s]["fgsm"]
    for s in S["seeds"]
)
breaks = curves["adversarial"]["pgd"][-1] <= 10
signs = {
    "defence's gain shrinks under PGD": masking_gap.low > 0,
    "PGD weaker than FGSM on the defended model": not iterative_stronger,
    f"PGD at epsilon {EPSILONS[-1]} fails to break it": not breaks,
}
print(
    f"(FGSM - PGD), adversarial minus plain, at epsilon {TRAIN_EPSILON}:"
    f" {masking_gap.estimate:+.1f} points (interval {masking_gap.low:+.1f} to"
    f" {masking_gap.high:+.1f}); PGD at most FGSM on the defended model for every seed:"
    f" {iterative_stronger}; PGD at epsilon {EPSILONS[-1]} leaves it"
    f" {curves['adversarial']['pgd'][-1]:.1f}%."
)
print(
    "Signs of gradient masking found: "
    + (", ".join(name for name, found in signs.items() if found) or "none")
    + ". "
    + (
        "The adversarial model's robustness is not an artefact of a broken gradient."
        if not any(signs.values())
        else "Treat the FGSM numbers of the adversarial model with suspicion."
    )
)

# %% [markdown]
# ## Claims check

# %% tags=["nbval-ignore-output"]
counts_ratio = counts[1] / counts[9]
c6 = claims.judge(
    "C6",
    claims.exact(counts_ratio, counts_ratio / counts[9], "exact count, training files"),
)
converged_by_name = {
    f"{kind} (seed {seed})": ok for (kind, seed), ok in converged.items()
}


def models_of(*kinds: str) -> dict:
    return {
        name: ok
        for name, ok in converged_by_name.items()
        if name.split(" (")[0] in kinds
    }


c7 = claims.judge("C7", tilt_gain, converged=models_of("plain", "augmented"))
c8 = claims.judge(
    "C8", gain_intervals["noise"], converged=models_of("plain", "adversarial")
)


def shown(interval: claims.Interval) -> str:
    return (
        f"{interval.estimate:+.2f} points (interval {interval.low:+.2f} to"
        f" {interval.high:+.2f})"
    )


display(claims_table(
    [
        Claim(
            "C6",
            f"{counts_ratio:.2f}x; augmentation left every class count unchanged "
            f"({counts_unchanged})",
            c6,
            f"Digit {int(counts.argmax())} is the most frequent; augmentation copies"
            " labels, so it cannot rebalance (chapter 06 uses class weights).",
        ),
        Claim(
            "C7",
            f"{shown(tilt_gain)} averaged over the {ANGLES[1]}-{ANGLES[-1]} degree"
            f" tilts, {len(S['seeds'])} paired seed(s)",
            c7,
            f"Compact CNN, {S['n_train']:,} images, {S['epochs']} epochs, the policy in"
            " one resampling. Mean gain by tilt: "
            + ", ".join(f"{a}°: {g:+.2f}" for a, g in zip(ANGLES, tilt_gain_by_angle))
            + f"; the policy itself only rotates up to {rotation:.0f}°.",
        ),
        Claim(
            "C8",
            f"Gaussian noise (sigma {SIGMAS[1]}-{SIGMAS[-1]}, mean):"
            f" {shown(gain_intervals['noise'])}; FGSM eps {TRAIN_EPSILON}:"
            f" {shown(gain_intervals['fgsm'])}; PGD eps {TRAIN_EPSILON}:"
            f" {shown(gain_intervals['pgd'])}; {len(S['seeds'])} paired seed(s)",
            c8,
            f"Compact CNN, {S['n_train']:,} images, {S['epochs']} epochs. The article"
            " does not say which noise; the verdict takes random (Gaussian) noise."
            " Adversarial noise is a different test, and the PGD row is the one that"
            " measures robustness.",
        ),
    ]
))
for claim, verdict, kinds in (
    ("C7", c7, ("plain", "augmented")),
    ("C8", c8, ("plain", "adversarial")),
):
    if verdict.verdict == claims.UNTESTABLE_BUDGET:
        rising = [key for key in histories if key[0] in kinds and not converged[key]]
        print(
            f"{claim} waits for "
            + ", ".join(
                f"the {kind} model of seed {seed} (up {rise[kind, seed]:+.2f} points"
                f" over its last {quarter} epochs, one standard error is {val_se:.2f})"
                for kind, seed in rising
            )
            + f": a run with more epochs than {S['epochs']} per model (the same seeds,"
            " the same images) decides it."
        )
print(
    f"C7 is {c7.verdict}: {c7.why} C8 is {c8.verdict}: {c8.why} This chapter trained"
    f" {len(trained)} models ({len(KINDS)} treatments x {len(S['seeds'])} seed(s),"
    f" {S['n_train']:,} images x {S['epochs']} epochs each) and ran in"
    f" {(time.perf_counter() - CHAPTER_START) / 60:.1f} minutes on"
    f" {os.cpu_count()} CPU cores in the {PROFILE} profile."
)

# %% [markdown]
# ## Exercises
#
# Solutions: `solutions/03_augmentation_adversarial_solutions.ipynb`.
#
# **Exercise 1.** FGSM spends its budget in the L-infinity norm: every pixel moves by
# `epsilon`, up or down. Under an **L2** budget (the perturbation of each image, as a
# vector of 784 pixels, has length at most `epsilon`) the best single step points along
# the gradient itself, not its sign. Write this fast gradient method,
# `my_fgm_l2(model, images, labels, epsilon)`, for a model that outputs logits, on float32
# NumPy images in [0, 1]: step each image by `epsilon` along its own gradient of the
# cross-entropy divided by that gradient's L2 norm, then clip to [0, 1]. The checker
# compares it with its own at `epsilon` = 2 (the length of moving 4 pixels from black to
# white, or 400 pixels by 0.1), and refuses the package's attacks.


# %%
def my_fgm_l2(
    model, images: np.ndarray, labels: np.ndarray, epsilon: float
) -> np.ndarray:
    raise NotImplementedError


check.fgm_l2(my_fgm_l2)

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
# `attack_and_score(model, images, labels)` returning `(accuracy, perturbed_images)`, with
# the perturbed images in [0, 1] and no pixel moved by more than epsilon = 0.1 (the
# L-infinity budget of this chapter's attacks). The checker runs it on a LeNet-5 trained
# without any defence and checks the budget, that the accuracy is honest (it matches the
# model's predictions on your images) and that it is lower than on clean images.
#
# Then explain what your result says about the model, and back the explanation with a
# measurement: is the damage the gradient's doing, or would any perturbation of the same
# size do it? Write `random_and_score(model, images, labels)`, the same budget spent at
# random (every pixel moved by +epsilon or -epsilon, a fair coin each, then clipped to
# [0, 1]), returning `(accuracy, perturbed_images)` too, and set `GRADIENT_DOES_IT` to
# `True` if your attack costs at least 10 points more accuracy than the random
# perturbation does, `False` if not. The checker measures both on its model and checks
# your answer; then write your explanation in a Markdown cell.


# %%
def attack_and_score(model, images: np.ndarray, labels: np.ndarray):
    raise NotImplementedError


def random_and_score(model, images: np.ndarray, labels: np.ndarray):
    raise NotImplementedError


GRADIENT_DOES_IT = None  # True or False, from your measurement

check.attack_evaluation(attack_and_score, random_and_score, GRADIENT_DOES_IT)
