"""training.fit and the evaluation helpers, on tiny data."""

import numpy as np
import pytest

from mnist_course import data, measure, models, training
from mnist_course.course.profile import seed_everything


@pytest.fixture(scope="module")
def tiny():
    split = data.load_split()
    return data.to_model_input(split.x_train[:512]), split.y_train[:512]


def test_fit_learns_and_reports_time(tiny):
    x, y = tiny
    seed_everything(0)
    model = models.lenet5()
    before = measure.accuracy(model, x, y)
    history = training.fit(model, x, y, validation=(x, y), epochs=5, progress=False)
    assert len(history["val_accuracy"]) == 5 and history["seconds"] > 0
    assert measure.accuracy(model, x, y) > max(before, 0.5)


def _variables(model) -> set[int]:
    return {id(v) for v in model.variables + model.optimizer.variables
            + [v for metric in model.metrics for v in metric.variables]}


def _compiled_lenet(seed: int = 0):
    seed_everything(seed)
    return training.compile_model(models.lenet5(), steps=4)


def test_build_for_fit_creates_every_variable_fit_needs_and_trains_the_same(tiny):
    x, y = tiny[0][:128], tiny[1][:128]
    plain, built = _compiled_lenet(), training.build_for_fit(_compiled_lenet(), x, y)
    assert all(float(np.sum(np.asarray(v))) == 0
               for metric in built.metrics for v in metric.variables)  # reset after building
    before = _variables(built)
    history = built.fit(x, y, batch_size=64, epochs=2, verbose=0, shuffle=False).history
    assert _variables(built) == before  # nothing left to create inside the traced step
    assert history == plain.fit(x, y, batch_size=64, epochs=2, verbose=0, shuffle=False).history
    with pytest.raises(ValueError, match="not compiled"):
        training.build_for_fit(models.lenet5(), x, y)
    with pytest.raises(ValueError, match="at least one example"):
        training.build_for_fit(_compiled_lenet(), x[:0], y[:0])


def test_fit_builds_the_model_before_keras_fit(tiny, monkeypatch):
    x, y = tiny
    model, seen = models.lenet5(), {}
    keras_fit = model.fit

    def spy(*args, **kwargs):
        seen["before"] = _variables(model)
        result = keras_fit(*args, **kwargs)
        seen["after"] = _variables(model)
        return result

    monkeypatch.setattr(model, "fit", spy)
    training.fit(model, x[:64], y[:64], epochs=1, progress=False)
    assert seen["before"] == seen["after"]


def test_accuracy_scores_in_batches_and_refuses_mismatched_labels(tiny):
    x, y = tiny
    model = models.lenet5()
    predicted = np.argmax(model.predict(x, verbose=0), axis=-1)
    assert measure.accuracy(model, x, predicted, batch_size=100) == 1.0  # 512 = 5*100 + 12
    assert measure.accuracy(model, x, y) == float(np.mean(predicted == y))
    with pytest.raises(ValueError, match="512 images and 511 labels"):
        measure.accuracy(model, x, y[:-1])
    with pytest.raises(ValueError, match="0 images"):
        measure.accuracy(model, x[:0], y[:0])


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
    timing = measure.latency_ms(lambda batch: calls.append(batch.shape),
                                   np.zeros((4, 28, 28, 1), np.float32), runs=30, warmup=5)
    assert len(calls) == 35 and calls[0] == (1, 28, 28, 1)
    assert 0 <= timing["p50"] <= timing["p99"] and len(timing["samples"]) == 30
    seen = []
    measure.latency_ms(seen.append, ["a.png", "b.png"], runs=3, warmup=1)
    assert seen == ["a.png", "b.png", "a.png", "b.png"]


def test_keras_file_size():
    assert 100_000 < measure.keras_file_size(models.lenet5()) < 2_000_000


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
