"""Small checks a learner can run on their own model and data when training goes wrong.

Each returns a :class:`Finding`: ``ok`` and one message that names the symptom's likely
cause and the fix. They are cheap (a batch or a few steps) and never change the model they
are given: anything that trains works on a copy.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import keras
import numpy as np

from .training import build_for_fit


@dataclass(frozen=True)
class Finding:
    check: str
    ok: bool
    message: str

    def __str__(self) -> str:
        return f"{'ok ' if self.ok else 'FIX'} {self.check}: {self.message}"


def input_range(x: np.ndarray) -> Finding:
    """Inputs for the course's models are floats in [0, 1]: raw 0-255 pixels saturate the
    first layers and training stalls near chance."""
    x = np.asarray(x)
    low, high = float(x.min()), float(x.max())
    if high > 1.5 or low < -1.5:
        return Finding("input range", False,
                       f"inputs span {low:g} to {high:g}; scale them to [0, 1] "
                       "(images.astype('float32') / 255).")
    return Finding("input range", True, f"inputs span {low:g} to {high:g}.")


def _loss(model: keras.Model):
    loss = getattr(model, "loss", None)
    if loss is None:
        raise ValueError(f"{model.name} is not compiled: compile it with its loss first")
    return keras.losses.get(loss) if isinstance(loss, str) else loss


def _from_logits(loss) -> bool:
    config = loss.get_config() if hasattr(loss, "get_config") else {}
    return bool(config.get("from_logits", getattr(loss, "from_logits", False)))


def _loss_name(loss) -> str:
    return getattr(loss, "name", None) or getattr(loss, "__name__", type(loss).__name__)


def _output_activation(model: keras.Model) -> str:
    last = model.layers[-1]
    activation = getattr(last, "activation", None)
    return getattr(activation, "__name__", "linear") if activation else "linear"


def output_and_loss(model: keras.Model) -> Finding:
    """A softmax output needs ``from_logits=False``; a linear output (logits) needs
    ``from_logits=True``. Either mismatch trains badly or not at all."""
    loss = _loss(model)
    activation, logits = _output_activation(model), _from_logits(loss)
    if activation == "softmax" and logits:
        return Finding("output vs loss", False,
                       "the last layer applies softmax but the loss has from_logits=True, so "
                       "softmax is applied twice (Keras's TensorFlow backend warns and undoes "
                       "it; other backends and hand-written losses do not): set "
                       "from_logits=False, or drop the softmax.")
    if activation != "softmax" and not logits:
        return Finding("output vs loss", False,
                       f"the last layer's activation is {activation!r} (logits) but the loss "
                       "expects probabilities: set from_logits=True or add a softmax.")
    return Finding("output vs loss", True,
                   f"{activation} output with from_logits={logits}.")


def label_format(y: np.ndarray, model: keras.Model) -> Finding:
    """Sparse losses take integer labels ``(n,)``; categorical ones take one-hot ``(n, 10)``."""
    name = _loss_name(_loss(model))
    sparse = "sparse" in name
    y = np.asarray(y)
    if sparse and y.ndim != 1:
        return Finding("label format", False,
                       f"{name} expects integer labels of shape (n,), got {y.shape}: pass "
                       "y.argmax(axis=1), or use categorical_crossentropy.")
    if not sparse and "categorical" in name and y.ndim == 1:
        return Finding("label format", False,
                       f"{name} expects one-hot labels of shape (n, classes), got {y.shape}: "
                       "use sparse_categorical_crossentropy, or one-hot encode the labels.")
    return Finding("label format", True, f"{name} with labels of shape {y.shape}.")


def _fresh_copy(model: keras.Model, learning_rate: float | None = None) -> keras.Model:
    """A compiled copy with the model's weights and a new optimiser of the same kind."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    config = model.optimizer.get_config()
    if learning_rate is not None:
        config["learning_rate"] = learning_rate
    optimizer = keras.optimizers.get({"class_name": model.optimizer.__class__.__name__,
                                      "config": config})
    copy.compile(optimizer=optimizer, loss=_loss(model), metrics=["accuracy"])
    return copy


def overfit_one_batch(model: keras.Model, x: np.ndarray, y: np.ndarray, steps: int = 60,
                      batch: int = 32) -> Finding:
    """A healthy model and training set-up can memorise one small batch. If a copy of the
    model, trained ``steps`` times on ``batch`` examples, does not reach 100% on them, the
    bug is in the model, the loss or the optimiser, not in the amount of data."""
    if steps < 1:
        raise ValueError(f"steps must be at least 1, got {steps}")
    xb, yb = x[:batch], y[:batch]
    copy = build_for_fit(_fresh_copy(model), xb, yb)
    for _ in range(steps):
        last = copy.train_on_batch(xb, yb, return_dict=True)  # the last step's metrics
    accuracy, loss = float(last["accuracy"]), float(last["loss"])
    if not np.isfinite(loss):
        return Finding("one-batch overfit", False,
                       f"the loss became {loss} on one batch: lower the learning rate "
                       "(a learning-rate range test finds where it diverges).")
    if accuracy < 1.0:
        return Finding("one-batch overfit", False,
                       f"{steps} steps on one batch of {batch} reached only {accuracy:.0%} "
                       f"(loss {loss:.3g}): check inputs, the output/loss pairing and the "
                       "learning rate before training longer.")
    return Finding("one-batch overfit", True,
                   f"memorised one batch of {batch} in {steps} steps (loss {loss:.3g}).")


#: learning rates a range test tries by default: 1e-5 to 10, half a decade apart
RANGE_TEST_RATES = tuple(float(r) for r in 10.0 ** np.arange(-5, 1.5, 0.5))


def learning_rate_range(model: keras.Model, x: np.ndarray, y: np.ndarray,
                        rates=RANGE_TEST_RATES, steps: int = 5,
                        batch: int = 64) -> tuple[Finding, list[tuple[float, float]]]:
    """A learning-rate range test (Smith 2017), coarse: from the model's current weights, a
    few steps at each rate; the loss after them. Flags the model's own rate when it is at or
    above the rate where the loss blows up (above 4x its starting value, or not finite)."""
    if len(rates) == 0:
        raise ValueError("rates is empty: give at least one learning rate to try")
    # compiled once and reset per rate; a float rate, so that the loop can assign others
    copy = build_for_fit(_fresh_copy(model, learning_rate=float(rates[0])), x, y)
    start = float(copy.evaluate(x[:batch], y[:batch], verbose=0)[0])
    weights = copy.get_weights()
    fresh_state = [keras.ops.convert_to_numpy(v) for v in copy.optimizer.variables]
    curve = []
    for rate in rates:
        copy.set_weights(weights)
        for variable, value in zip(copy.optimizer.variables, fresh_state):
            variable.assign(value)
        copy.optimizer.learning_rate = float(rate)
        history = copy.fit(x[: batch * steps], y[: batch * steps], batch_size=batch,
                           epochs=1, verbose=0)
        curve.append((float(rate), float(history.history["loss"][-1])))
    blown = [r for r, loss in curve if not np.isfinite(loss) or loss > 4 * start]
    own = float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))
    if blown and own >= min(blown):
        finite = [(loss, r) for r, loss in curve if np.isfinite(loss)]
        advice = (f"the loss is lowest at {min(finite)[1]:g}; start about a tenth of that, "
                  f"{min(finite)[1] / 10:g} (the minimum of a few steps sits near the edge of "
                  "stability, not where training is best)" if finite else
                  "no rate tried kept the loss finite: try rates below the smallest here")
        return Finding("learning rate", False,
                       f"the loss blows up from a rate of {min(blown):g} and the model "
                       f"uses {own:g}: {advice}."), curve
    return Finding("learning rate", True,
                   f"the model's rate {own:g} is below where the loss blows up "
                   f"({min(blown):g})." if blown else
                   f"no rate up to {max(rates):g} blew the loss up."), curve


def batchnorm_settled(model: keras.Model, x: np.ndarray, min_agreement: float = 0.9) -> Finding:
    """Batch norm uses the batch's statistics in training and its moving averages in
    inference. After too few steps (or with momentum too high for the run's length) the
    averages have not caught up: a model that looks fine in training predicts near chance.
    Compares the two modes' predictions on the same images."""
    if not any(isinstance(layer, keras.layers.BatchNormalization) for layer in _all_layers(model)):
        return Finding("batch-norm statistics", True, "the model has no batch normalisation.")
    state = [(v, keras.ops.convert_to_numpy(v)) for v in model.non_trainable_variables]
    train_mode = np.asarray(model(x, training=True)).argmax(axis=1)
    for variable, value in state:  # a training-mode call moves the averages: undo it
        variable.assign(value)
    infer_mode = np.asarray(model(x, training=False)).argmax(axis=1)
    agreement = float((train_mode == infer_mode).mean())
    if agreement < min_agreement:
        return Finding("batch-norm statistics", False,
                       f"training-mode and inference-mode predictions agree on only "
                       f"{agreement:.0%} of the images: the moving averages have not settled. "
                       "Train longer, lower the momentum (for example 0.9) for short runs, "
                       "or recompute the statistics on training data.")
    return Finding("batch-norm statistics", True,
                   f"the two modes agree on {agreement:.0%} of the images.")


def _all_layers(model):
    for layer in model.layers:
        yield layer
        if hasattr(layer, "layers"):
            yield from _all_layers(layer)


def fingerprints(images: np.ndarray) -> set[str]:
    return {hashlib.sha1(np.ascontiguousarray(image).tobytes()).hexdigest() for image in images}


def leakage(a: np.ndarray, b: np.ndarray, names: tuple[str, str] = ("validation", "test")
            ) -> Finding:
    """Exact duplicates between two splits: a model chosen on one and reported on the other
    is then partly tested on what it was chosen with."""
    shared = len(fingerprints(a) & fingerprints(b))
    if shared:
        return Finding("split leakage", False,
                       f"{shared} images appear in both the {names[0]} and the {names[1]} "
                       "set: split by index once, before any shuffling or augmentation.")
    return Finding("split leakage", True,
                   f"no image of the {names[0]} set is in the {names[1]} set.")


def validation_above_training(history: dict, margin: float = 0.005) -> Finding:
    """Validation accuracy above training accuracy is not a bug in itself: dropout and
    augmentation make training harder than validation. It is a bug when nothing of the
    sort is on, and then usually leakage."""
    train, val = history.get("accuracy"), history.get("val_accuracy")
    if not train or not val:
        raise ValueError("the history needs 'accuracy' and 'val_accuracy' (fit with "
                         "validation_data and metrics=['accuracy'])")
    gap = val[-1] - train[-1]
    if gap > margin:
        return Finding("validation above training", False,
                       f"validation accuracy is {gap:+.1%} above training accuracy. If the "
                       "model uses dropout or augmentation this is expected (training "
                       "accuracy is measured with them on); otherwise look for leakage. "
                       "Re-measure training accuracy with model.evaluate to compare like "
                       "with like.")
    return Finding("validation above training", True,
                   f"validation accuracy is {gap:+.1%} from training accuracy.")
