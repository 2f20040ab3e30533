"""One evaluation report for any digit classifier: a Keras model, a LiteRT interpreter
(int8 included) or any function from images to logits, measured by the same code.

:func:`evaluate` returns a :class:`Report`: accuracy with its Wilson interval, per-class
precision/recall/F1, the confusion matrix and its most confused pairs, expected calibration
error (15 bins, Guo et al. 2017) and a reliability table, accuracy under Gaussian noise,
rotation and the corruptions of :mod:`mnist_course.corruptions`, accuracy on the UCI digits,
single-image latency, file size and memory. ``Report.model_card()`` serialises it as a model
card in the sense of Mitchell et al. (2019).

The helpers refuse bad input with a message that names the problem: images of the wrong
shape or dtype, float pixels outside [0, 1], labels outside 0-9, lengths that differ.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from mnist_course import corruptions, robustness
from mnist_course.course import claims

NOISE_SIGMAS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5)
ROTATIONS = (0, 15, 30, 45)
ECE_BINS = 15


# -- input checks ---------------------------------------------------------------------------

def as_model_input(images: np.ndarray) -> np.ndarray:
    """float32 ``(N, 28, 28, 1)`` in [0, 1] from uint8 pixels 0-255 or floats already in
    [0, 1], shaped ``(N, 28, 28)`` or ``(N, 28, 28, 1)``."""
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., np.newaxis]
    if images.ndim != 4 or images.shape[1:] != (28, 28, 1) or len(images) == 0:
        raise ValueError(f"expected images of shape (N, 28, 28) or (N, 28, 28, 1) with N > 0, "
                         f"got {images.shape}")
    if images.dtype == np.uint8:
        return images.astype(np.float32) / 255.0
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(f"images must be uint8 (0-255) or float (0-1), got {images.dtype}")
    low, high = float(np.min(images)), float(np.max(images))
    if not (np.isfinite(low) and np.isfinite(high)) or low < 0.0 or high > 1.0:
        hint = " (divide uint8-range pixels by 255)" if high > 1.0 and high <= 255.0 else ""
        raise ValueError(f"float pixels must lie in [0, 1], found {low:g} to {high:g}{hint}")
    return images.astype(np.float32)


def as_pixels(images: np.ndarray) -> np.ndarray:
    """uint8 ``(N, 28, 28)`` from either accepted form (corruptions work on raw pixels)."""
    images = np.asarray(images)
    if images.dtype == np.uint8 and images.ndim == 3:
        return images
    return np.rint(as_model_input(images)[..., 0] * 255.0).astype(np.uint8)


def as_labels(labels: np.ndarray, n: int) -> np.ndarray:
    """Integer labels 0-9, one per image."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be a 1-D array of integers, got {labels.dtype} "
                         f"{labels.shape}")
    if len(labels) != n:
        raise ValueError(f"{n} images but {len(labels)} labels: they must match one to one")
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        bad = labels[(labels < 0) | (labels > 9)]
        raise ValueError(f"labels must be digits 0-9, found {sorted(set(bad.tolist()))[:5]}")
    return labels.astype(np.int64)


# -- probabilities and calibration ----------------------------------------------------------

def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Probabilities from logits divided by ``temperature`` (numerically stable)."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z -= z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def reliability(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> dict:
    """Per confidence bin (equal widths on [0, 1]): mean confidence, accuracy and count."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    labels = as_labels(labels, len(probabilities))
    if probabilities.ndim != 2:
        raise ValueError(f"probabilities must be (N, classes), got {probabilities.shape}")
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    # bin b holds confidences in (b/bins, (b+1)/bins]; a confidence of 0 goes to bin 0
    which = np.clip(np.ceil(confidence * bins).astype(int) - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        conf = np.bincount(which, confidence, bins) / count
        acc = np.bincount(which, correct, bins) / count
    return {"edges": np.linspace(0, 1, bins + 1).tolist(), "confidence": conf.tolist(),
            "accuracy": acc.tolist(), "count": count.tolist()}


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray,
                               bins: int = ECE_BINS) -> float:
    """ECE: the count-weighted mean gap between accuracy and confidence over the bins."""
    table = reliability(probabilities, labels, bins)
    count = np.array(table["count"])
    gap = np.abs(np.nan_to_num(np.array(table["accuracy"]) - np.array(table["confidence"])))
    return float(np.sum(count * gap) / count.sum())


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature that minimises the negative log-likelihood of ``labels`` (temperature
    scaling, Guo et al. 2017). Fit it on the validation split, never on the test split."""
    from scipy.optimize import minimize_scalar

    logits = np.asarray(logits, dtype=np.float64)
    labels = as_labels(labels, len(logits))

    def nll(log_t: float) -> float:
        z = logits / np.exp(log_t)
        z -= z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(len(z)), labels]))

    return float(np.exp(minimize_scalar(nll, bounds=(-3.0, 3.0), method="bounded").x))


# -- the report -----------------------------------------------------------------------------

def logits_function(model) -> Callable[[np.ndarray], np.ndarray]:
    """``images (N, 28, 28, 1) float32 -> logits (N, 10)`` for a Keras model, a
    :class:`mnist_course.export.TFLiteModel` or a function that already is one."""
    if hasattr(model, "predict") and hasattr(model, "layers"):  # Keras
        # called directly, 1,000 images at a time: predict() builds a dataset and an iterator
        # on every call, which costs more than the forward pass on a stress set of 100 images
        return lambda x: np.concatenate([np.asarray(model(x[i:i + 1000], training=False))
                                         for i in range(0, max(len(x), 1), 1000)])
    if hasattr(model, "predict"):
        return model.predict
    if callable(model):
        return model
    raise TypeError(f"cannot evaluate a {type(model).__name__}: pass a Keras model, a "
                    "TFLiteModel or a function from images to logits")


def most_confused(confusion: np.ndarray, k: int = 5) -> list[tuple[int, int, int]]:
    """The ``k`` largest off-diagonal cells: ``(true digit, predicted digit, count)``."""
    off = np.array(confusion, dtype=np.int64)
    np.fill_diagonal(off, 0)
    order = np.argsort(-off, axis=None, kind="stable")[:k]
    return [(int(i // 10), int(i % 10), int(off.flat[i])) for i in order if off.flat[i] > 0]


@dataclass
class Report:
    """Everything measured for one model (JSON-ready except ``accuracy``, an Interval)."""

    name: str
    n_test: int
    accuracy: claims.Interval
    per_class: dict
    confusion: list
    confused_pairs: list
    ece: float
    reliability: dict
    temperature: float = 1.0
    noise: dict = field(default_factory=dict)
    rotation: dict = field(default_factory=dict)
    corruptions: dict = field(default_factory=dict)
    n_robustness: int = 0
    uci_accuracy: float | None = None
    latency_ms: dict = field(default_factory=dict)
    size_bytes: int | None = None
    memory_mb: float | None = None

    @property
    def corruption_mean(self) -> float:
        return float(np.mean(list(self.corruptions.values()))) if self.corruptions else np.nan

    def model_card(self, intended_use: str, data: str, limits: str) -> str:
        """The report as a model card (Mitchell et al. 2019), in JSON."""
        metrics = asdict(self)
        metrics["accuracy"] = {"estimate": self.accuracy.estimate, "low": self.accuracy.low,
                               "high": self.accuracy.high, "method": self.accuracy.method}
        metrics["corruption_mean"] = self.corruption_mean
        metrics["latency_ms"] = {k: v for k, v in self.latency_ms.items() if k != "samples"}
        return json.dumps({"model": self.name, "intended_use": intended_use, "data": data,
                           "metrics": metrics, "limits": limits}, indent=1, default=float)


def stress_sets(images: np.ndarray, seed: int = 0) -> dict[str, dict]:
    """The harder versions of ``images`` every model is scored on, made once and shared:
    ``{"noise": {sigma: x}, "rotation": {angle: x}, "corruptions": {kind: x}}``, each ``x``
    float32 ``(N, 28, 28, 1)`` in the order of ``images`` (labels unchanged)."""
    x = as_model_input(images)
    pixels = as_pixels(x)
    tilted = robustness.tilted_set(pixels, ROTATIONS, seed)
    return {
        "noise": {s: robustness.gaussian_noise(x, s, seed) for s in NOISE_SIGMAS},
        "rotation": {a: as_model_input(tilted[a]) for a in ROTATIONS},
        "corruptions": {k: as_model_input(corruptions.corrupt(pixels, k, seed))
                        for k in corruptions.KINDS},
    }


def evaluate(model, images: np.ndarray, labels: np.ndarray, name: str, *,
             stress: dict | None = None, stress_labels: np.ndarray | None = None,
             uci: tuple | None = None, temperature: float = 1.0, latency_runs: int = 200,
             size_bytes: int | None = None, memory_mb: float | None = None) -> Report:
    """Measure ``model`` on the test ``images`` and ``labels`` (uint8 0-255 or float 0-1).

    ``stress`` comes from :func:`stress_sets` (made once, shared by every model), with its
    ``stress_labels``; ``uci`` is ``(images, labels)`` of the UCI digits; ``temperature``
    divides the logits before the softmax (fit it on validation with :func:`fit_temperature`).
    """
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    from mnist_course.measure import latency_ms

    x = as_model_input(images)
    y = as_labels(labels, len(x))
    predict = logits_function(model)
    probabilities = softmax(predict(x), temperature)
    predicted = probabilities.argmax(axis=1)
    precision, recall, f1, _ = precision_recall_fscore_support(y, predicted, labels=range(10),
                                                               zero_division=0)
    confusion = confusion_matrix(y, predicted, labels=range(10))

    def accuracy_on(batch: np.ndarray, truth: np.ndarray) -> float:
        return float(np.mean(predict(batch).argmax(axis=1) == truth))

    scored = {"noise": {}, "rotation": {}, "corruptions": {}}
    if stress is not None:
        truth = as_labels(stress_labels, len(next(iter(stress["noise"].values()))))
        scored = {group: {key: accuracy_on(batch, truth) for key, batch in sets.items()}
                  for group, sets in stress.items()}
    uci_accuracy = None
    if uci is not None:
        uci_x = as_model_input(uci[0])
        uci_accuracy = accuracy_on(uci_x, as_labels(uci[1], len(uci_x)))
    # one image at a time, as a device would see them; a Keras model is called as a compiled
    # tf.function (its predict() adds milliseconds of set-up to every call)
    single = predict
    if hasattr(model, "layers"):
        import tensorflow as tf

        single = tf.function(lambda batch: model(batch, training=False))
    timing = latency_ms(single, x[:64], runs=latency_runs)
    return Report(
        name=name, n_test=len(y),
        accuracy=claims.binomial_interval(int(np.sum(predicted == y)), len(y)),
        per_class={"precision": precision.tolist(), "recall": recall.tolist(),
                   "f1": f1.tolist()},
        confusion=confusion.tolist(), confused_pairs=most_confused(confusion),
        ece=expected_calibration_error(probabilities, y),
        reliability=reliability(probabilities, y), temperature=temperature,
        noise=scored["noise"], rotation=scored["rotation"],
        corruptions=scored["corruptions"],
        n_robustness=0 if stress is None else len(stress_labels), uci_accuracy=uci_accuracy,
        latency_ms={"p50": timing["p50"], "p99": timing["p99"], "samples": timing["samples"]},
        size_bytes=size_bytes, memory_mb=memory_mb)


# -- memory in a fresh process ------------------------------------------------------------

_PROBE = """
import os, sys
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np

def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

path = sys.argv[1]
if path.endswith(".tflite"):
    from ai_edge_litert.interpreter import Interpreter
    before = peak_kb()
    model = Interpreter(model_path=path, num_threads=1)
    model.allocate_tensors()
    detail = model.get_input_details()[0]
    model.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
    model.invoke()
else:
    import keras
    keras.ops.zeros((1,))  # the runtime itself, before the model
    before = peak_kb()
    model = keras.saving.load_model(path)
    model.predict(np.zeros((1, 28, 28, 1), np.float32), verbose=0)
print(before, peak_kb())
"""


def memory_growth_mb(path: str | Path) -> float:
    """Peak resident memory added by loading ``path`` (``.keras`` or ``.tflite``) and running
    one image, in a fresh Python process (Linux's ``VmHWM``), beyond the runtime itself."""
    if not Path("/proc/self/status").exists():
        raise OSError("memory is read from /proc/self/status, which exists on Linux only")
    out = subprocess.run([sys.executable, "-c", _PROBE, str(path)], capture_output=True,
                         text=True, check=True).stdout.split()
    before_kb, after_kb = map(int, out[-2:])
    return (after_kb - before_kb) / 1024
