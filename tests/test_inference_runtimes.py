"""Chapter 06's runtime comparison on a tiny model: exports agree with Keras, and the
agreement check itself can fail."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_course import inference_runtimes


def test_agreement_measures_argmax_and_largest_difference():
    a = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4]])
    same = inference_runtimes.agreement(a, a)
    assert same.argmax == 1.0 and same.max_difference == 0.0 and same.n == 3
    b = np.array([[0.9, 0.1], [0.2, 0.8], [0.4, 0.6]])
    differ = inference_runtimes.agreement(a, b)
    assert differ.argmax == pytest.approx(2 / 3) and differ.max_difference == pytest.approx(0.2)
    with pytest.raises(ValueError, match="shape"):
        inference_runtimes.agreement(a, b[:2])


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    import keras
    from keras import layers

    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((28, 28, 1)), layers.Conv2D(4, 3, activation="relu"),
                              layers.Flatten(), layers.Dense(10, activation="softmax")])
    folder = tmp_path_factory.mktemp("runtimes")
    x = np.random.default_rng(0).random((32, 28, 28, 1)).astype("float32")
    return model, folder, x, model.predict(x, verbose=0)


def test_onnx_runtime_agrees_with_keras(tiny):
    pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    model, folder, x, reference = tiny
    model.export(str(folder / "tiny.onnx"), format="onnx", verbose=False)
    run = inference_runtimes.onnx_runner(folder / "tiny.onnx")
    got = inference_runtimes.agreement(reference, run(x))
    assert got.argmax == 1.0 and got.max_difference < 1e-5


def test_openvino_agrees_with_keras(tiny):
    pytest.importorskip("openvino")
    model, folder, x, reference = tiny
    model.export(str(folder / "tiny.xml"), format="openvino")
    run = inference_runtimes.openvino_runner(folder / "tiny.xml")
    got = inference_runtimes.agreement(reference, run(x))
    # float32 as asked, also on a CPU where OpenVINO would pick bfloat16 by itself
    assert got.argmax == 1.0 and got.max_difference < 1e-5


def test_tensorrt_status_says_why_not():
    ok, reason = inference_runtimes.tensorrt_status()
    assert isinstance(ok, bool) and reason
