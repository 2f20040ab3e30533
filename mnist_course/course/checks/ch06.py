"""Checkers of chapter 06 (troubleshooting): per-layer pruning targets that protect small
layers, diagnosing and repairing broken training set-ups, capped class weights."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mnist_course.course.checks.core import Checker, Result, attempt, attempt_without


def capped_weights(labels: np.ndarray, cap: float) -> dict[int, float]:
    """The reference answer of exercise 3: balanced weights, clipped at ``cap`` times the
    smallest, rescaled to average 1 over the images."""
    classes, counts = np.unique(labels, return_counts=True)
    balanced = 1 / counts
    weights = np.minimum(balanced, cap * balanced.min())
    weights *= len(labels) / (counts * weights).sum()
    return {int(c): float(w) for c, w in zip(classes, weights)}


class Checks(Checker):
    """The exercises of this chapter; ``strict=True`` raises on failure (solutions)."""

    def layer_sparsities(self, fn: Callable) -> Result:
        """``fn(sizes, overall, protect_below)``: one sparsity per layer, small layers dense,
        the others sharing the sparsity that zeroes ``overall`` of all weights; ValueError
        where no sparsity up to 1 reaches it."""
        cases = [([288, 9_216, 102_400, 1_290], 0.9, 1_000),
                 ([288, 9_216, 102_400, 1_290], 0.9, 0),
                 ([5_000, 400, 600], 0.5, 1_000),
                 ([5_000, 400, 600], 0.0, 1_000)]
        problems = []
        for sizes, overall, protect in cases:
            where = f"sizes {sizes}, overall {overall}, protect_below {protect}"
            got, problem = attempt(fn, list(sizes), overall, protect)
            if problem:
                return self._report("layer_sparsities", [f"{where}: {problem}"])
            try:
                got = np.asarray(got, dtype=float)
            except (TypeError, ValueError):
                return self._report("layer_sparsities", [f"{where}: return one number per "
                                                         f"layer, got {got!r:.80}."])
            n = np.asarray(sizes, float)
            small, big = n < protect, n >= protect
            if got.shape != n.shape:
                problems.append(f"{where}: return {len(sizes)} sparsities, one per layer, "
                                f"got shape {got.shape}.")
            elif np.any(got[small] != 0):
                problems.append(f"{where}: layers under {protect:,} weights stay dense "
                                f"(sparsity 0), got {got[small].tolist()}.")
            elif np.ptp(got[big]) > 1e-9:
                problems.append(f"{where}: the pruned layers share one sparsity, got "
                                f"{np.round(got[big], 4).tolist()}.")
            elif not np.all((0 <= got) & (got <= 1)):
                problems.append(f"{where}: a sparsity lies between 0 and 1, got "
                                f"{np.round(got, 4).tolist()}.")
            else:
                reached = float((got * n).sum() / n.sum())
                if not np.isclose(reached, overall, atol=1e-6):
                    hint = (" The dense layers keep their weights, so the others must prune "
                            "more than the target." if np.isclose(got[big][0], overall) else "")
                    problems.append(f"{where}: these zero {reached:.4f} of all weights, not "
                                    f"{overall}.{hint}")
        sizes, overall, protect = [400, 600, 1_000], 0.8, 700
        try:
            got = fn(list(sizes), overall, protect)
        except ValueError as err:
            if "50" not in str(err):
                problems.append(f"sizes {sizes}, overall {overall}: the ValueError should say "
                                f"the most this model can reach (50% of the weights), got "
                                f"{str(err)!r:.120}.")
        except Exception as err:  # the learner's code may fail in any way
            problems.append(f"sizes {sizes}, overall {overall}: raise ValueError, not "
                            f"{type(err).__name__} ({err}).")
        else:
            problems.append(f"sizes {sizes}, overall {overall}, protect_below {protect}: only "
                            f"1,000 of 2,000 weights may be pruned, so 80% cannot be reached; "
                            f"raise ValueError instead of returning {got!r:.60}.")
        return self._report("layer_sparsities", problems)

    def repair(self, fn: Callable) -> Result:
        """``fn(images, labels, model) -> (images, labels, model)``: each fault present
        fixed, nothing healthy changed, across four set-ups with different faults."""
        import keras
        from keras import layers

        from mnist_course import data, diagnostics

        split = data.load_split()
        raw, y = split.x_train[:1500, :, :, None], split.y_train[:1500]  # uint8, 0-255
        setups = [("unscaled pixels, logits with from_logits=False", True, None, False),
                  ("one-hot labels for a sparse loss", False, "softmax", True),
                  ("nothing broken", False, "softmax", False),
                  ("unscaled pixels, one-hot labels", True, "softmax", True)]
        originals = (diagnostics.input_range, diagnostics.output_and_loss,
                     diagnostics.label_format)
        problems = []
        for k, (name, unscaled, output, one_hot) in enumerate(setups, 1):
            where = f"set-up {k} ({name})"
            images = raw.copy() if unscaled else (raw / 255).astype(np.float32)
            labels = np.eye(10, dtype=np.float32)[y] if one_hot else y.copy()
            keras.utils.set_random_seed(k)
            model = keras.Sequential([keras.Input((28, 28, 1)), layers.Flatten(),
                                      layers.Dense(64, activation="relu"),
                                      layers.Dense(10, activation=output)])
            model.compile(optimizer=keras.optimizers.Adam(1e-3),
                          loss=keras.losses.SparseCategoricalCrossentropy(from_logits=False),
                          metrics=["accuracy"])
            n_layers = len(model.layers)
            got, problem = attempt_without(originals, fn, images, labels, model)
            if problem:
                problems.append(f"{where}: {problem}")
                break
            try:
                images, labels, model = got
            except (TypeError, ValueError):
                problems.append(f"return (images, labels, model), got {type(got).__name__}.")
                break
            images, labels, own = np.asarray(images), np.asarray(labels), []
            if images.dtype != np.float32:
                own.append(f"the images should be float32, got {images.dtype}.")
            elif images.max() > 1.5:
                own.append(f"the pixels span up to {images.max():g}: scale them to [0, 1].")
            elif images.max() < 0.5:
                own.append(f"the pixels reach only {images.max():.3g}: they were in [0, 1] "
                           "already and were scaled again.")
            if not isinstance(model, keras.Model) or getattr(model, "loss", None) is None:
                own.append("return the model compiled (with model.compile).")
            else:
                if len(model.layers) != n_layers:
                    own.append("keep the model's layers; only its data or compilation was "
                               "wrong.")
                own += [f.message for f in (diagnostics.output_and_loss(model),
                                            diagnostics.label_format(labels, model))
                        if not f.ok]
            if not own:
                model.fit(images[:1000], labels[:1000], batch_size=32, epochs=3, verbose=0)
                held = (model.predict(images[1000:], verbose=0).argmax(1) == y[1000:]).mean()
                if held < 0.6:  # well below what a repaired set-up reaches, above chance
                    own.append(f"after 3 epochs on 1,000 images the repaired set-up gets "
                               f"only {held:.0%} of 500 others right: something is still off.")
            problems += [f"{where}: {p}" for p in own]
        return self._report("repair", problems)

    def class_weights(self, fn: Callable) -> Result:
        """``fn(labels, cap) -> {class: weight}``: balanced up to ``cap`` times the smallest
        weight, averaging 1 over the images."""
        labels = np.array([0] * 500 + [1] * 50 + [4] * 10 + [7] * 440)
        np.random.default_rng(0).shuffle(labels)
        problems = []
        for cap in (8.0, 100.0):
            got, problem = attempt_without((capped_weights,), fn, labels.copy(), cap)
            if problem:
                return self._report("class_weights", [f"cap {cap:g}: {problem}"])
            if not isinstance(got, dict):
                return self._report("class_weights", [
                    f"return a dict {{class: weight}} (what fit's class_weight takes), got "
                    f"{type(got).__name__}."])
            got = {int(k): float(v) for k, v in got.items()}
            expected = capped_weights(labels, cap)
            if set(got) != set(expected):
                problems.append(f"weights are needed for exactly the classes present, "
                                f"{sorted(expected)}; got {sorted(got)}.")
                break
            counts = {c: int((labels == c).sum()) for c in expected}
            mean = sum(counts[c] * w for c, w in got.items()) / len(labels)
            ratio = max(got.values()) / min(got.values())
            if all(np.isclose(got[c], expected[c]) for c in expected):
                continue
            if ratio > cap * (1 + 1e-6):
                hint = f"the largest weight is {ratio:.1f} times the smallest; the cap is {cap:g}."
            elif not np.isclose(mean, 1):
                hint = (f"the weights average {mean:.3f} over the images, not 1: divide "
                        "them all by that, so the loss keeps its scale.")
            else:
                hint = ("within the cap, classes should carry equal totals (count x "
                        "weight), and a capped class sits at exactly cap times the smallest.")
            problems.append(f"cap {cap:g}: expected "
                            f"{({c: round(w, 3) for c, w in expected.items()})}, got "
                            f"{({c: round(w, 3) for c, w in got.items()})}: {hint}")
        return self._report("class_weights", problems)


#: For the chapter: explains, never raises.
check = Checks(strict=False)
#: For the solutions notebook: raises AssertionError on any problem.
strict_check = Checks(strict=True)
