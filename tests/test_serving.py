"""The serving package: configs, tensors, batching, and a live server's answers to good and
bad requests over gRPC and REST (TF Serving's status codes and HTTP codes)."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc
import numpy as np
import pytest

from mnist_course.course.profile import import_tensorflow

import_tensorflow()

from tensorflow_serving.apis import (  # noqa: E402
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)

from mnist_course.serving import config, loadtest  # noqa: E402
from mnist_course.serving.client import grpc_predict, predict_request, rest  # noqa: E402
from mnist_course.serving.metrics import Metrics  # noqa: E402
from mnist_course.serving.server import array_to_tensor, tensor_to_array  # noqa: E402
from mnist_course.serving.versions import (  # noqa: E402
    Batcher,
    ModelManager,
    ServingError,
    TensorSpec,
    validate,
)
from tests.conftest import needs_program, publish, rest_text  # noqa: E402

IMAGES = np.linspace(0, 1, 3 * 784, dtype=np.float32).reshape(3, 28, 28, 1)
SPEC = TensorSpec("keras_tensor", "DT_FLOAT", (-1, 28, 28, 1))


# ---- config files in TF Serving's text format ---------------------------------------------
def test_batching_file_is_read_in_tf_serving_text_format(tmp_path):
    path = tmp_path / "batching.config"
    path.write_text("max_batch_size { value: 64 }\nbatch_timeout_micros { value: 0 }\n"
                    "num_batch_threads { value: 2 }\n")
    batching = config.Batching.from_file(path)
    assert (batching.max_batch_size, batching.batch_timeout_micros,
            batching.num_batch_threads) == (64, 0, 2)
    assert batching.max_enqueued_batches == 100  # TF Serving's default where unset
    path.write_text(batching.to_text())
    assert config.Batching.from_file(path) == batching


def test_a_bad_config_file_is_named_in_the_error(tmp_path):
    path = tmp_path / "batching.config"
    path.write_text("max_batch_sise { value: 64 }\n")
    with pytest.raises(config.ConfigError, match="batching.config.*max_batch_sise"):
        config.Batching.from_file(path)
    with pytest.raises(config.ConfigError, match="cannot read"):
        config.Batching.from_file(tmp_path / "missing.config")


def test_monitoring_config_enables_the_metrics_path(tmp_path):
    path = tmp_path / "monitoring.config"
    assert config.metrics_path(None) is None
    path.write_text('prometheus_config { enable: true, path: "/metrics/here" }')
    assert config.metrics_path(path) == "/metrics/here"
    path.write_text("prometheus_config { enable: true }")
    assert config.metrics_path(path) == config.DEFAULT_METRICS_PATH
    path.write_text("prometheus_config { enable: false }")
    assert config.metrics_path(path) is None


def test_model_config_file_with_policy_and_labels(tmp_path):
    path = tmp_path / "models.config"
    path.write_text("""model_config_list {
      config { name: "mnist" base_path: "models/mnist" model_platform: "tensorflow"
               model_version_policy { specific { versions: 1 versions: 2 } }
               version_labels { key: "stable" value: 1 }
               version_labels { key: "canary" value: 2 } } }""")
    (entry,) = config.read_model_config(path)
    assert entry.name == "mnist" and entry.base_path == (tmp_path / "models/mnist").resolve()
    assert entry.policy == "specific" and entry.versions == (1, 2)
    assert entry.labels == {"stable": 1, "canary": 2}


def test_flags_are_tf_servings():
    args = config.flag_parser().parse_args([
        "--port=8500", "--rest_api_port=8501", "--model_name=mnist", "--model_base_path=/m",
        "--enable_batching", "--batching_parameters_file=b", "--monitoring_config_file=m",
        "--file_system_poll_wait_seconds=2"])
    assert args.enable_batching is True and args.file_system_poll_wait_seconds == 2
    assert config.flag_parser().parse_args(["--enable_batching=false"]).enable_batching is False
    assert config.flag_parser().parse_args([]).host == "127.0.0.1"


def test_cli_help_and_missing_model_path():
    run = subprocess.run([sys.executable, "-m", "mnist_course.serving", "--help"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "--model_base_path" in run.stdout
    run = subprocess.run([sys.executable, "-m", "mnist_course.serving",
                          "--model_base_path=/nowhere"],
                         capture_output=True, text=True, timeout=60)
    assert run.returncode == 2 and "/nowhere does not exist" in run.stderr


# ---- tensors and validation ----------------------------------------------------------------
def test_tensor_round_trip_and_value_fields():
    assert np.array_equal(tensor_to_array(array_to_tensor(IMAGES)), IMAGES)
    proto = predict_pb2.PredictRequest().inputs["x"]
    proto.dtype = 1  # DT_FLOAT, values in float_val as a hand-written client sends them
    proto.tensor_shape.dim.add(size=2)
    proto.float_val.extend([0.25, 0.5])
    assert tensor_to_array(proto).tolist() == [0.25, 0.5]
    proto.tensor_shape.dim.add(size=3)
    with pytest.raises(ServingError, match="holds 2 values but its shape"):
        tensor_to_array(proto)


@pytest.mark.parametrize("x, message", [
    (IMAGES.astype(np.float64), "expects DT_FLOAT"),
    (IMAGES[..., 0], "expects shape"),
    (IMAGES[:0], "empty batch"),
    (np.zeros((17, 28, 28, 1), np.float32), "larger than maximum input batch size 16"),
    (np.full((1, 28, 28, 1), np.nan, np.float32), "NaN"),
    (IMAGES * 255, r"\[0, 1\]"),
])
def test_validate_refuses_bad_tensors(x, message):
    with pytest.raises(ServingError, match=message) as error:
        validate(x, SPEC, limit=16)
    assert error.value.code == "INVALID_ARGUMENT" and error.value.http_status == 400


# ---- version folders and batching ----------------------------------------------------------
def test_versions_on_disk_skip_exports_in_progress(tmp_path):
    for name in ("1", "3", ".4-staging", "notes"):
        (tmp_path / name).mkdir()
    for name in ("1", ".4-staging"):
        (tmp_path / name / "saved_model.pb").write_bytes(b"")
    (tmp_path / "3" / "variables").mkdir()  # a version without saved_model.pb is incomplete
    assert ModelManager.versions_on_disk(tmp_path) == [1]


class FakeServable:
    name, version = "fake", 1

    def __init__(self):
        self.batches = []

    def run(self, key, x):
        self.batches.append(len(x))
        return {"out": x.reshape(len(x), -1)[:, :1] * 2}


def test_batcher_batches_concurrent_requests_and_routes_results():
    async def scenario():
        servable, metrics = FakeServable(), Metrics()
        batcher = Batcher(servable, config.Batching(max_batch_size=8,
                                                    batch_timeout_micros=20_000), metrics)
        inputs = [np.full((n, 2), i, np.float32) for i, n in enumerate([1, 2, 3, 1, 4, 1])]
        results = await asyncio.gather(*(batcher.submit("k", x) for x in inputs))
        await batcher.close()
        return servable.batches, inputs, results, metrics.render()

    batches, inputs, results, rendered = asyncio.run(scenario())
    assert sum(batches) == 12 and len(batches) < 6 and max(batches) <= 8
    for x, result in zip(inputs, results, strict=True):
        assert np.array_equal(result["out"], x[:, :1] * 2)
    assert ':mnist_course:serving:batch_size_count{model_name="fake",version="1"}' in rendered


def test_batcher_close_finishes_queued_requests():
    async def scenario():
        servable = FakeServable()
        batcher = Batcher(servable, config.Batching(max_batch_size=4), Metrics())
        pending = [asyncio.ensure_future(batcher.submit("k", np.ones((1, 2), np.float32)))
                   for _ in range(10)]
        await asyncio.sleep(0)
        await batcher.close()
        late = await batcher.submit("k", np.ones((1, 2), np.float32))  # runs alone
        return [p.done() for p in pending], late

    done, late = asyncio.run(scenario())
    assert all(done) and late["out"].shape == (1, 1)


def samples(text: str) -> dict[tuple[str, frozenset], float]:
    """The exposition parsed by ``prometheus_client.parser``: (sample name, labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    # the parser names a counter's samples <name>_total; TF Serving's names have no suffix
    return {(s.name.removesuffix("_total") if family.type == "counter" else s.name,
             frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


#: promtool's lint findings that TF Serving's own metric names draw (colons, no _total, no
#: HELP): expected, and promtool reports them with exit status 3, not 1 (a parse error)
TF_SERVING_LINT = ("metric names should not contain ':'", "no help text",
                   'counter metrics should have "_total" suffix',
                   'non-histogram and non-summary metrics should not have "_count" suffix')


def promtool_accepts(text: str) -> None:
    promtool = needs_program("promtool")
    check = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True,
                           text=True, timeout=30)
    findings = (check.stdout + check.stderr).strip().splitlines()
    assert check.returncode in (0, 3), check.stdout + check.stderr  # 1: it did not parse
    unexpected = [f for f in findings if not f.endswith(TF_SERVING_LINT)]
    assert not unexpected, unexpected


def test_promtool_check_fails_on_a_broken_exposition():
    promtool = needs_program("promtool")
    check = subprocess.run([promtool, "check", "metrics"], input='foo{a="x"y"} 1\n',
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 1 and "parsing error" in check.stderr


def test_metrics_exposition_is_valid_for_promtool():
    metrics = Metrics(models=["mnist"])
    metrics.request("mnist", "OK", "predict", "GRPC", 0.002)
    metrics.request("mnist", "INVALID_ARGUMENT", "predict", "REST", 0.0005)
    metrics.batch("mnist", 1, 5)
    metrics.version_loaded("mnist", "/m/1", 1, ok=True)
    text = metrics.render()
    parsed = samples(text)
    key = frozenset({"model_name": "mnist", "status": "OK"}.items())
    assert parsed[":tensorflow:serving:request_count", key] == 1
    assert sum(v for (name, labels), v in parsed.items()
               if name.endswith("request_latency_bucket") and ("le", "+Inf") in labels) == 2
    promtool_accepts(text)


HOSTILE = ['a"b', "back\\slash", "new\nline", 'x"} 1\nfake_metric 2', "", "\u00e9t\u00e9"]


def test_hostile_and_countless_model_names_cannot_break_or_grow_the_exposition():
    metrics = Metrics(models=["mnist", 'we"ird\nname'])
    for name in HOSTILE + [f"model-{i}" for i in range(10_000)]:
        metrics.request(name, "NOT_FOUND", "predict", "GRPC", 0.001)
    metrics.request('we"ird\nname', "OK", "predict", "REST", 0.001)
    metrics.version_loaded('we"ird\nname', '/models/"quoted"\\path', 1, ok=True)
    text = metrics.render()
    parsed = samples(text)  # parses: every value is escaped
    counts = {dict(labels)["model_name"]: v for (name, labels), v in parsed.items()
              if name == ":tensorflow:serving:request_count"}
    assert counts == {"__unknown__": len(HOSTILE) + 10_000, 'we"ird\nname': 1}
    assert len(parsed) < 200, "unknown names must not add series"
    assert not any(name == "fake_metric" for name, _ in parsed)
    promtool_accepts(text)


# ---- the load generator's bounds -----------------------------------------------------------
def test_load_generator_targets_loopback_only():
    loadtest.require_loopback("127.0.0.1:8500")
    loadtest.require_loopback("localhost:8500")
    with pytest.raises(ValueError, match="only targets this machine"):
        loadtest.require_loopback("8.8.8.8:8500")
    with pytest.raises(ValueError, match="duration"):
        asyncio.run(loadtest.run_load("127.0.0.1:1", [b""], duration=3600))


# ---- a live server -------------------------------------------------------------------------
def _stub(target, service=prediction_service_pb2_grpc.PredictionServiceStub):
    return service(grpc.insecure_channel(target))


def _grpc_error(server, request) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as error:
        _stub(server["grpc"]).Predict(request, timeout=10)
    return error.value


def test_grpc_predict_metadata_and_status(server):
    logits, version = grpc_predict(IMAGES, server["grpc"])
    tf = import_tensorflow()
    loaded = tf.saved_model.load(str(server["store"] / "1"))
    local = loaded.serve(IMAGES).numpy()
    assert version == 1 and np.allclose(logits, local, atol=1e-5)
    request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
    request.model_spec.name = "mnist"
    metadata = _stub(server["grpc"]).GetModelMetadata(request, timeout=10)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    metadata.metadata["signature_def"].Unpack(signatures)
    assert "keras_tensor" in signatures.signature_def["serving_default"].inputs
    request = get_model_status_pb2.GetModelStatusRequest()
    request.model_spec.name = "mnist"
    status = _stub(server["grpc"], model_service_pb2_grpc.ModelServiceStub).GetModelStatus(
        request, timeout=10)
    assert [(s.version, s.state) for s in status.model_version_status] == [(1, 30)]  # AVAILABLE


def test_rest_answers_like_grpc(server):
    expected, _ = grpc_predict(IMAGES, server["grpc"])
    code, body = rest("/v1/models/mnist:predict", {"instances": IMAGES.tolist()},
                      url=server["rest"])
    assert code == 200 and np.allclose(body["predictions"], expected, atol=1e-5)
    code, body = rest("/v1/models/mnist/versions/1:predict",
                      {"inputs": {"keras_tensor": IMAGES.tolist()}}, url=server["rest"])
    assert code == 200 and np.allclose(body["outputs"], expected, atol=1e-5)
    code, body = rest("/v1/models/mnist", url=server["rest"])
    assert body["model_version_status"][0]["state"] == "AVAILABLE"
    code, body = rest("/v1/models/mnist/metadata", url=server["rest"])
    assert code == 200 and "serving_default" in body["metadata"]["signature_def"]["signature_def"]


def _bad_tensor(x: np.ndarray, dtype: int | None = None):
    request = predict_request(np.zeros((1, 28, 28, 1), np.float32))
    tensor = request.inputs["keras_tensor"]
    tensor.CopyFrom(array_to_tensor(x))
    if dtype is not None:
        tensor.dtype = dtype
        tensor.tensor_content = np.asarray(x, np.float64).tobytes()
    return request


def _with_output_filter(key: str):
    request = predict_request(IMAGES)
    request.output_filter.append(key)
    return request


@pytest.mark.parametrize("case, make, code, message", [
    ("wrong shape", lambda: _bad_tensor(np.zeros((1, 784))), "INVALID_ARGUMENT", "expects shape"),
    ("wrong dtype", lambda: _bad_tensor(np.zeros((1, 28, 28, 1)), dtype=2), "INVALID_ARGUMENT",
     "expects DT_FLOAT"),
    ("NaN pixels", lambda: _bad_tensor(np.full((1, 28, 28, 1), np.nan)), "INVALID_ARGUMENT",
     "NaN"),
    ("0-255 pixels", lambda: _bad_tensor(np.full((1, 28, 28, 1), 255.0)), "INVALID_ARGUMENT",
     "divide 8-bit pixels by 255"),
    ("empty batch", lambda: _bad_tensor(np.zeros((0, 28, 28, 1))), "INVALID_ARGUMENT",
     "empty batch"),
    ("oversized batch", lambda: _bad_tensor(np.zeros((17, 28, 28, 1))), "INVALID_ARGUMENT",
     "larger than maximum input batch size"),
    ("unknown model", lambda: predict_request(IMAGES, model="fashion"), "NOT_FOUND",
     "Servable not found"),
    ("unknown version", lambda: predict_request(IMAGES, version=7), "NOT_FOUND",
     r"Specific\(mnist, 7\)"),
    ("unknown label", lambda: predict_request(IMAGES, label="canary"), "NOT_FOUND", "label"),
    ("unknown signature", lambda: predict_request(IMAGES, signature="classify"),
     "FAILED_PRECONDITION", "signature"),
    ("unknown input", lambda: predict_request(IMAGES, input_key="pixels"), "INVALID_ARGUMENT",
     "do not match"),
    ("unknown output", lambda: _with_output_filter("probabilities"), "INVALID_ARGUMENT",
     "output_filter names 'probabilities'"),
])
def test_grpc_bad_input_gets_its_status_and_the_server_goes_on(server, case, make, code,
                                                               message):
    error = _grpc_error(server, make())
    assert error.code() == getattr(grpc.StatusCode, code), error.details()
    assert re.search(message, error.details()), error.details()
    assert grpc_predict(IMAGES, server["grpc"])[0].shape == (3, 10)


def test_grpc_truncated_message_is_invalid_argument(server):
    raw = predict_request(IMAGES).SerializeToString()
    with grpc.insecure_channel(server["grpc"]) as channel:
        call = channel.unary_unary("/tensorflow.serving.PredictionService/Predict")
        with pytest.raises(grpc.RpcError) as error:
            call(raw[: len(raw) // 2], timeout=10)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "truncated" in error.value.details()
    assert grpc_predict(IMAGES, server["grpc"])[0].shape == (3, 10)


@pytest.mark.parametrize("path, body, status, message", [
    ("/v1/models/mnist:predict", b"{not json", 400, "JSON Parse error"),
    ("/v1/models/mnist:predict", {"instances": [[1, 2], [3]]}, 400, "ragged"),
    ("/v1/models/mnist:predict", {"instances": ["a digit"]}, 400, "ragged list or a string"),
    ("/v1/models/mnist:predict", {"rows": []}, 400, "exactly one of"),
    ("/v1/models/mnist:predict", {"instances": np.zeros((1, 28, 28)).tolist()}, 400,
     "expects shape"),
    ("/v1/models/mnist:predict", {"instances": np.full((1, 28, 28, 1), 9).tolist()}, 400,
     r"\[0, 1\]"),
    ("/v1/models/fashion:predict", {"instances": IMAGES.tolist()}, 404, "Servable not found"),
    ("/v1/models/mnist/versions/9:predict", {"instances": IMAGES.tolist()}, 404,
     r"Specific\(mnist, 9\)"),
    ("/v1/models/mnist/versions/9", None, 404, "Specific"),
    ("/v1/models/mnist:classify", {"examples": []}, 400, "only POST :predict"),
])
def test_rest_bad_input_gets_its_http_code(server, path, body, status, message):
    import json
    import urllib.error
    import urllib.request

    data = body if isinstance(body, bytes) or body is None else json.dumps(body).encode()
    request = urllib.request.Request(server["rest"] + path, data=data)
    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=10)
    assert error.value.code == status
    assert re.search(message, json.loads(error.value.read())["error"])
    assert rest("/v1/models/mnist:predict", {"instances": IMAGES[:1].tolist()},
                url=server["rest"])[0] == 200


def _drawing(size: int = 140) -> np.ndarray:
    """A canvas with one thick vertical stroke, off centre: a raw drawing, not MNIST."""
    canvas = np.zeros((size, size), np.uint8)
    canvas[size // 5: size - size // 5, size // 6: size // 6 + size // 12] = 255
    return canvas


def test_canvas_signature_answers_over_rest_and_grpc(server):
    code, body = rest("/v1/models/mnist:predict",
                      {"signature_name": "canvas", "instances": [_drawing().tolist()]},
                      url=server["rest"])
    assert code == 200, body
    (answer,) = body["predictions"]
    assert np.isclose(sum(answer["probabilities"]), 1, atol=1e-4)
    image = np.array(answer["image"])
    assert image.shape == (28, 28) and image.max() == 255  # the preprocessed digit
    rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
    assert rows[-1] - rows[0] + 1 == 20 and abs((rows[0] + rows[-1]) / 2 - 13.5) <= 1
    assert abs((cols[0] + cols[-1]) / 2 - 13.5) <= 1  # centred, though drawn at the left
    request = predict_request(_drawing()[np.newaxis], signature="canvas", input_key="canvas")
    reply = _stub(server["grpc"]).Predict(request, timeout=30)
    assert np.allclose(tensor_to_array(reply.outputs["probabilities"]),
                       answer["probabilities"], atol=1e-5)
    assert (tensor_to_array(reply.outputs["image"]) == image).all()
    assert reply.outputs["image"].dtype == 4  # DT_UINT8, as the signature says


@pytest.mark.parametrize("case, canvas, message", [
    ("blank", np.zeros((1, 140, 140)), "draw a digit first"),
    ("oversized", np.full((1, 1025, 16), 255), "at most 1024x1024"),
    ("too small", np.full((1, 4, 4), 255), "at least 8x8"),
    ("wrong rank", _drawing(), r"expects shape \[None, None, None\]"),
    ("above 255", np.full((1, 16, 16), 300), "whole numbers 0-255"),
    ("negative", np.full((1, 16, 16), -1), "whole numbers 0-255"),
    ("fractions", np.full((1, 16, 16), 0.5), "with fractions"),
    ("a string", [["ink"]], "ragged list or a string"),
])
def test_bad_drawings_are_refused_with_a_message_and_the_server_goes_on(server, case,
                                                                        canvas, message):
    body = {"signature_name": "canvas", "instances": np.asarray(canvas).tolist()}
    code, reply = rest("/v1/models/mnist:predict", body, url=server["rest"])
    assert code == 400 and re.search(message, reply["error"]), reply
    code, reply = rest("/v1/models/mnist:predict",
                       {"signature_name": "canvas", "instances": [_drawing().tolist()]},
                       url=server["rest"])
    assert code == 200, reply


def test_canvas_refuses_float_tensors_and_unknown_signatures(server):
    request = predict_request(_drawing()[np.newaxis] / 255.0, signature="canvas",
                              input_key="canvas")
    error = _grpc_error(server, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "expects DT_UINT8" in error.details()
    code, reply = rest("/v1/models/mnist:predict",
                       {"signature_name": "sketch", "instances": [_drawing().tolist()]},
                       url=server["rest"])
    assert code == 400 and "Serving signature key \"sketch\" not found" in reply["error"]


def test_a_blank_canvas_batched_with_good_ones_fails_alone(server):
    from concurrent.futures import ThreadPoolExecutor

    drawings = [_drawing() if i % 2 else np.zeros((140, 140), np.uint8) for i in range(12)]
    with ThreadPoolExecutor(12) as pool:
        codes = list(pool.map(lambda d: rest(
            "/v1/models/mnist:predict", {"signature_name": "canvas",
                                         "instances": [d.tolist()]}, url=server["rest"])[0],
            drawings))
    assert codes == [400 if i % 2 == 0 else 200 for i in range(12)]


def test_metrics_count_requests_by_status(server):
    parsed = samples(rest_text(server["rest"] + "/monitoring/prometheus/metrics"))
    count = ":tensorflow:serving:request_count"
    assert (count, frozenset({"model_name": "mnist", "status": "OK"}.items())) in parsed
    assert (count, frozenset({"model_name": "mnist", "status": "NOT_FOUND"}.items())) in parsed
    assert any(name == ":tensorflow:serving:request_latency_bucket"
               and {("model_name", "mnist"), ("API", "predict"), ("entrypoint", "GRPC")} <= labels
               for name, labels in parsed)
    loaded = frozenset({"model_name": "mnist", "version": "1"}.items())
    assert parsed[":mnist_course:serving:version_loaded", loaded] == 1


def test_the_server_binds_free_ports_itself_and_reports_them(server):
    log = server["log"].read_text()  # TF Serving's start-up lines carry the bound ports
    assert f"Running gRPC ModelServer at {server['grpc']} ..." in log
    assert f"Exporting HTTP/REST API at:{server['rest'].removeprefix('http://')} ..." in log


def test_record_profile_writes_a_flame_graph_or_says_why_not(tmp_path):
    busy = subprocess.Popen([sys.executable, "-c", "while True: sum(range(10_000))"])
    try:
        loadtest.record_profile(busy.pid, 1, tmp_path / "flame.svg")
    finally:
        busy.kill()
        busy.wait()
    assert (tmp_path / "flame.svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(OSError, match="py-spy failed .*process"):
        loadtest.record_profile(busy.pid, 1, tmp_path / "gone.svg")  # it has exited


def test_a_flame_graph_that_is_not_well_formed_xml_is_cleaned_or_removed(tmp_path):
    from xml.dom import minidom

    svg = tmp_path / "flame.svg"
    svg.write_text('<?xml version="1.0"?><svg><title>frame \x1b[0m (a.py:1)</title></svg>')
    loadtest.well_formed_svg(svg)
    assert minidom.parse(str(svg)).getElementsByTagName("title")[0].firstChild.data == (
        "frame [0m (a.py:1)")
    svg.write_text('<?xml version="1.0"?><svg><title>a < b</title></svg>')
    with pytest.raises(OSError, match="not well-formed XML"):
        loadtest.well_formed_svg(svg)
    assert not svg.exists()


def test_runtime_floor_loads_a_do_nothing_server_and_stops_it():
    import psutil

    needs_program("h2load")
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    report, cpu_us = loadtest.runtime_floor(loadtest.digits_requests(count=2), concurrency=4,
                                            duration=1.0)
    assert report.requests > 0 and not report.errors and cpu_us > 0
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before


def test_a_reserved_port_is_refused_to_a_plain_bind_until_released():
    from mnist_course.serving.stack import HOST, reserve_port

    held = reserve_port()
    port = held.getsockname()[1]
    with socket.socket() as other:
        with pytest.raises(OSError):
            other.bind((HOST, port))
    held.close()
    with socket.socket() as other:
        other.bind((HOST, port))


def test_the_server_counts_its_cpu_time_by_stage(server):
    from mnist_course.serving.metrics import STAGES

    def stage_cpu() -> dict[str, float]:
        parsed = samples(rest_text(server["rest"] + "/monitoring/prometheus/metrics"))
        return {dict(labels)["stage"]: value for (name, labels), value in parsed.items()
                if name == ":mnist_course:serving:cpu_seconds"}

    before = stage_cpu()
    for _ in range(5):
        grpc_predict(IMAGES, server["grpc"])
    after = stage_cpu()
    assert set(after) == {*STAGES, "process"}
    spent = {stage: after[stage] - before[stage] for stage in after}
    assert all(spent[stage] > 0 for stage in STAGES), spent  # the server fixture batches
    assert sum(spent[stage] for stage in STAGES) <= spent["process"], spent


def test_hostile_model_names_in_requests_leave_the_scrape_valid(server):
    import urllib.parse

    for name in HOSTILE:
        request = predict_request(IMAGES[:1])
        request.model_spec.name = name
        assert _grpc_error(server, request).code() in (grpc.StatusCode.NOT_FOUND,
                                                       grpc.StatusCode.INVALID_ARGUMENT)
        path = f"/v1/models/{urllib.parse.quote(name, safe='')}:predict"
        if name:
            assert rest(path, {"instances": IMAGES[:1].tolist()}, url=server["rest"])[0] >= 400
    text = rest_text(server["rest"] + "/monitoring/prometheus/metrics")
    names = {dict(labels).get("model_name") for _, labels in samples(text)}
    assert names <= {"mnist", "__unknown__", None}, names
    promtool_accepts(text)


def _ok_count(server) -> float:
    text = rest_text(server["rest"] + "/monitoring/prometheus/metrics")
    line = next(x for x in text.splitlines() if x.startswith(
        ':tensorflow:serving:request_count{model_name="mnist",status="OK"}'))
    return float(line.split()[-1])


def test_load_generator_stops_at_its_bounds_and_does_not_count_warmup(server):
    requests = [predict_request(IMAGES[:1]).SerializeToString()]
    before = _ok_count(server)
    report = asyncio.run(loadtest.run_load(server["grpc"], requests, concurrency=4, duration=30,
                                  max_requests=40, warmup=0.3))
    served = _ok_count(server) - before
    assert report.requests == 40 and not report.errors and report.seconds < 30
    assert served > 40 + 4  # the warm-up's requests reached the server, uncounted
    assert report.summary()["p50_ms"] <= report.summary()["p99_ms"] <= report.summary()["max_ms"]


def test_open_loop_in_a_child_offers_its_rate_and_leaves_nothing_behind(server):
    import psutil

    requests = [predict_request(IMAGES[:1]).SerializeToString()]
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    report = loadtest.run_in_child(server["grpc"], requests, rate=100, duration=1.0,
                                   timeout=2.0)
    assert 95 <= report.requests <= 100 and not report.errors, report.errors
    assert report.starts_s.max() < 1.0 and len(report.latencies_ms) == report.ok
    assert {p.pid for p in psutil.Process().children(recursive=True)} <= before
    with pytest.raises(ValueError, match="loopback"):
        loadtest.run_in_child("192.0.2.1:8500", requests, rate=1, duration=1)


@pytest.mark.parametrize("crashes, saves_first, calls", [
    (1, False, 2),  # aborted before saving: repeated once in a fresh child
    (1, True, 1),  # aborted after saving its report: the report stands
    (2, False, None),  # aborted twice: an error naming the failure
])
def test_a_load_child_that_gRPC_aborts_is_repeated_once(monkeypatch, capsys, crashes,
                                                         saves_first, calls):
    seen = []

    def fake_run(command, **kwargs):
        seen.append(command)
        folder = Path(command[command.index("--child") + 1])
        if len(seen) > crashes or saves_first:
            np.savez(folder / "report.npz", seconds=1.0, latencies_ms=np.array([2.0]),
                     starts_s=np.array([0.0]), errors="{}")
        code = -6 if len(seen) <= crashes else 0
        return subprocess.CompletedProcess(command, code, "", "E epoll_wait error: Bad fd")

    monkeypatch.setattr(subprocess, "run", fake_run)
    if calls is None:
        with pytest.raises(RuntimeError, match=r"load child failed \(-6\)"):
            loadtest.run_in_child("127.0.0.1:1", [b""], rate=1, duration=1)
        assert len(seen) == 2
        return
    report = loadtest.run_in_child("127.0.0.1:1", [b""], rate=1, duration=1)
    assert len(seen) == calls and report.ok == 1
    assert ("repeats the run" in capsys.readouterr().err) == (calls == 2)


def test_new_version_is_served_and_old_one_unloaded_under_load(server):
    """Publish version 2 while requests flow: none fails, and the latest version answers."""
    async def scenario():
        requests = [predict_request(IMAGES[:1]).SerializeToString()]
        load = asyncio.ensure_future(loadtest.run_load(
            server["grpc"], requests, concurrency=4, duration=4, record_versions=True))
        await asyncio.sleep(1)
        publish(server["store"], server["base"], 2)
        return await load

    report = asyncio.run(scenario())
    assert sum(report.errors.values()) == 0 and len(report.latencies_ms) > 100
    assert set(report.versions[:10]) == {1} and set(report.versions[-10:]) == {2}
    deadline = time.monotonic() + 10
    while rest("/v1/models/mnist", url=server["rest"])[1]["model_version_status"] != \
            [{"version": "2", "state": "AVAILABLE",
              "status": {"error_code": "OK", "error_message": ""}}]:
        assert time.monotonic() < deadline, "version 1 was not unloaded"
        time.sleep(0.2)


# ---- h2load, an independent load generator -------------------------------------------------
def test_h2load_engine_reports_good_and_bad_runs_as_the_python_engine_does(server):
    from collections import Counter

    needs_program("h2load")
    metrics = [server["rest"] + "/monitoring/prometheus/metrics"]
    good = [predict_request(IMAGES[:1]).SerializeToString()]
    report = loadtest.run_h2load(server["grpc"], good, concurrency=4, max_requests=200,
                        metrics_urls=metrics)
    assert (report.requests, report.ok, report.errors) == (200, 200, Counter())
    assert report.engine == "h2load" and 0 < report.quantile(50) <= report.quantile(99)
    bad = [predict_request(IMAGES[:1], model="fashion").SerializeToString()]
    report = loadtest.run_h2load(server["grpc"], bad, concurrency=4, max_requests=100,
                        metrics_urls=metrics)
    assert (report.requests, report.ok, report.errors) == (100, 0, Counter(NOT_FOUND=100))
    python = asyncio.run(loadtest.run_load(server["grpc"], bad, concurrency=4, max_requests=100,
                                  duration=60))
    assert (python.requests, python.ok, python.errors) == (100, 0, Counter(NOT_FOUND=100))


def test_h2load_timed_run_takes_fractional_seconds(server):
    needs_program("h2load")
    requests = [predict_request(IMAGES[:1]).SerializeToString()]
    report = loadtest.run_h2load(server["grpc"], requests, concurrency=2, duration=0.7,
                                 warmup=0.3, timeout=2.5,
                                 metrics_urls=[server["rest"] + "/monitoring/prometheus/metrics"])
    assert report.ok > 0 and not report.errors and 0.5 < report.seconds < 5


def test_loadtest_cli_runs_h2load(server, capsys):
    needs_program("h2load")
    code = loadtest.main(["--target", server["grpc"], "--engine", "h2load", "--requests", "50",
                          "--concurrency", "2", "--warmup", "0", "--json", "--metrics",
                          server["rest"] + "/monitoring/prometheus/metrics"])
    out = capsys.readouterr().out
    assert code == 0 and '"engine": "h2load"' in out and '"ok": 50' in out
