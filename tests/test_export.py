"""Export and conversion: every TFLite variant loads and classifies real digits, the int8
helpers round-trip, the int8 model holds no float tensor, and versions are written atomically."""

import numpy as np
import pytest

from mnist_course import data, export, models, training
from mnist_course.course.profile import seed_everything


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    seed_everything(0)
    split = data.load_split()
    x = data.to_model_input(split.x_train[:4000])
    model = models.compact_cnn()
    training.fit(model, x, split.y_train[:4000], epochs=2, progress=False)
    base = tmp_path_factory.mktemp("models")
    saved = export.export_saved_model(model, base, "mnist", 1)
    flatbuffers = {v: export.to_tflite(saved, v, representative=x[:100]) for v in export.VARIANTS}
    x_test = data.to_model_input(split.x_test[:200])
    return model, base, saved, flatbuffers, x_test, split.y_test[:200]


def test_saved_model_layout_and_atomic_versions(trained):
    model, base, saved, *_ = trained
    assert saved == base / "mnist" / "1" and (saved / "saved_model.pb").exists()
    with pytest.raises(FileExistsError, match="immutable"):
        export.export_saved_model(model, base, "mnist", 1)
    export.export_saved_model(model, base, "mnist", 2)
    assert sorted(p.name for p in (base / "mnist").iterdir()) == ["1", "2"]  # no staging left


@pytest.mark.parametrize("variant", export.VARIANTS)
def test_each_variant_classifies_real_digits(trained, variant):
    model, _, _, flatbuffers, x_test, y_test = trained
    lite = export.TFLiteModel(flatbuffers[variant])
    pred = lite.predict(x_test).argmax(-1)
    keras_pred = model.predict(x_test, verbose=0).argmax(-1)
    assert np.mean(pred == y_test) > 0.9
    assert np.mean(pred == keras_pred) >= 0.97


def test_sizes_follow_the_variants(trained):
    sizes = {v: len(fb) for v, fb in trained[3].items()}
    assert sizes["int8"] < sizes["float16"] < sizes["float32"]
    assert sizes["dynamic_range"] < sizes["float32"] / 2


def test_int8_has_no_float_tensor_and_float32_does(trained):
    flatbuffers = trained[3]
    int8 = export.TFLiteModel(flatbuffers["int8"])
    assert not any(t.startswith("float") for t in int8.tensor_types())
    assert int8.input["dtype"] == np.uint8 and int8.output["dtype"] == np.uint8
    scale, zero_point = int8.input["quantization"]
    assert zero_point == 0 and scale == pytest.approx(1 / 255, rel=1e-3)
    assert "float32" in export.TFLiteModel(flatbuffers["float32"]).tensor_types()


def test_op_macs_match_the_keras_count(trained):
    model, flatbuffers = trained[0], trained[3]
    lite = export.TFLiteModel(flatbuffers["int8"])
    assert sum(macs for _, _, macs in lite.op_macs()) == models.count_macs(model)


def test_quantize_dequantize_round_trip():
    x = np.linspace(0, 1, 1001, dtype=np.float32)
    q = export.quantize(x, 1 / 255, 0)
    assert q.dtype == np.uint8 and q.min() == 0 and q.max() == 255
    assert np.abs(export.dequantize(q, 1 / 255, 0) - x).max() <= 0.5 / 255 + 1e-7
    assert export.quantize(np.array([-1.0, 2.0]), 1 / 255, 0).tolist() == [0, 255]
    assert export.quantize(np.array([0.0]), 0.01, -128, np.int8).tolist() == [-128]
    assert export.dequantize(np.array([10], np.int8), 0.5, 4).tolist() == [3.0]


def test_wrong_input_is_refused(trained):
    lite = export.TFLiteModel(trained[3]["int8"])
    with pytest.raises(ValueError, match=r"expected uint8 \(1, 28, 28, 1\)"):
        lite.invoke_raw(np.zeros((1, 28, 28, 1), np.float32))
    with pytest.raises(ValueError, match="unknown variant"):
        export.to_tflite(trained[2], "int4")
    with pytest.raises(ValueError, match="representative"):
        export.to_tflite(trained[2], "int8")
