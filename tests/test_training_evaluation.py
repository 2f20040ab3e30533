"""training.fit and the evaluation helpers, on tiny data."""

import numpy as np
import pytest

from mnist_course import data, evaluation, models, training
from mnist_course.runtime import seed_everything


@pytest.fixture(scope="module")
def tiny():
    split = data.load_split()
    return data.to_model_input(split.x_train[:512]), split.y_train[:512]


def test_fit_learns_and_reports_time(tiny):
    x, y = tiny
    seed_everything(0)
    model = models.lenet5()
    before = evaluation.accuracy(model, x, y)
    history = training.fit(model, x, y, validation=(x, y), epochs=5, progress=False)
    assert len(history["val_accuracy"]) == 5 and history["seconds"] > 0
    assert evaluation.accuracy(model, x, y) > max(before, 0.5)


def test_fit_is_deterministic_for_a_seed(tiny):
    x, y = tiny
    weights = []
    for _ in range(2):
        seed_everything(1)
        model = models.compact_cnn()
        training.fit(model, x[:128], y[:128], epochs=1, progress=False)
        weights.append(model.get_weights())
    assert all(np.array_equal(a, b) for a, b in zip(*weights))


def test_latency_ms_reports_percentiles():
    calls = []
    timing = evaluation.latency_ms(lambda batch: calls.append(batch.shape),
                                   np.zeros((4, 28, 28, 1), np.float32), runs=30, warmup=5)
    assert len(calls) == 35 and calls[0] == (1, 28, 28, 1)
    assert 0 <= timing["p50"] <= timing["p99"] and len(timing["samples"]) == 30
    seen = []
    evaluation.latency_ms(seen.append, ["a.png", "b.png"], runs=3, warmup=1)
    assert seen == ["a.png", "b.png", "a.png", "b.png"]


def test_keras_file_size():
    assert 100_000 < evaluation.keras_file_size(models.lenet5()) < 2_000_000


def test_augmentation_policy_shape_range_and_inference_identity():
    policy = training.augmentation_policy(seed=0)
    x = data.to_model_input(data.load_mnist().x_test[:16])
    out = np.asarray(policy(x, training=True))
    assert out.shape == x.shape
    assert out.min() >= 0 and out.max() <= 1 + 1e-6
    assert not np.allclose(out, x)                        # something moved
    assert np.array_equal(np.asarray(policy(x, training=False)), x)
    assert [type(layer).__name__ for layer in policy.layers] == [
        "RandomRotation", "RandomTranslation", "RandomZoom", "RandomShear"]


def test_fit_with_augmentation_runs(tiny):
    x, y = tiny
    seed_everything(0)
    model = models.lenet5()
    history = training.fit(model, x, y, epochs=1, progress=False,
                           augment=training.augmentation_policy(seed=0))
    assert len(history["accuracy"]) == 1
