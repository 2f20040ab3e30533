"""TF Serving's gRPC and REST APIs over ``ModelManager``, in one asyncio event loop.

gRPC: ``tensorflow.serving.PredictionService/Predict`` and ``/GetModelMetadata``,
``tensorflow.serving.ModelService/GetModelStatus``, with the official request and response
protos. REST: ``GET /v1/models/<name>[/versions/<n>|/labels/<l>][/metadata]`` and
``POST .../<name>[...]:predict`` with ``instances`` (row) or ``inputs`` (columnar) JSON.
Every refusal carries TF Serving's status code and a message that says what to change.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import re
import signal
import socket
import time
from pathlib import Path
from time import thread_time

import grpc
import numpy as np
from aiohttp import web
from google.protobuf.message import DecodeError

from mnist_course.serving.config import Batching, ModelEntry
from mnist_course.serving.metrics import Metrics
from mnist_course.serving.versions import ModelManager, ServingError, validate

log = logging.getLogger("mnist_course.serving")


def _protos():
    from mnist_course.course.profile import import_tensorflow

    import_tensorflow()  # the protos import TensorFlow; keep its start-up lines quiet
    from tensorflow.core.framework import tensor_pb2, types_pb2
    from tensorflow_serving.apis import get_model_metadata_pb2, get_model_status_pb2, predict_pb2
    return tensor_pb2, types_pb2, get_model_metadata_pb2, get_model_status_pb2, predict_pb2


(tensor_pb2, types_pb2, get_model_metadata_pb2, get_model_status_pb2, predict_pb2) = _protos()

NUMPY_TYPES = {types_pb2.DT_FLOAT: np.float32, types_pb2.DT_DOUBLE: np.float64,
               types_pb2.DT_INT32: np.int32, types_pb2.DT_INT64: np.int64,
               types_pb2.DT_UINT8: np.uint8}
VALUE_FIELDS = {types_pb2.DT_FLOAT: "float_val", types_pb2.DT_DOUBLE: "double_val",
                types_pb2.DT_INT32: "int_val", types_pb2.DT_UINT8: "int_val",
                types_pb2.DT_INT64: "int64_val"}


def tensor_to_array(proto) -> np.ndarray:
    """A ``TensorProto`` as a NumPy array (``tensor_content`` or the typed ``*_val`` field)."""
    dtype = NUMPY_TYPES.get(proto.dtype)
    if dtype is None:
        name = types_pb2.DataType.Name(proto.dtype)
        raise ServingError("INVALID_ARGUMENT", f"tensor dtype {name} is not supported; "
                           "send DT_FLOAT")
    shape = [d.size for d in proto.tensor_shape.dim]
    if proto.tensor_content:
        if len(proto.tensor_content) % np.dtype(dtype).itemsize:
            raise ServingError("INVALID_ARGUMENT", "tensor_content is not a whole number of "
                               f"{np.dtype(dtype).name} values")
        values = np.frombuffer(proto.tensor_content, dtype)
    else:
        values = np.asarray(getattr(proto, VALUE_FIELDS[proto.dtype]), dtype)
    size = math.prod(shape)
    if values.size == 1 and size > 1:  # TensorProto's rule: one value fills the shape
        values = np.full(size, values[0], dtype)
    if values.size != size or any(d < 0 for d in shape):
        raise ServingError("INVALID_ARGUMENT", f"tensor holds {values.size} values but its "
                           f"shape {shape} needs {size}")
    return values.reshape(shape)


def json_to_array(key: str, value, dtype: str) -> np.ndarray:
    """A JSON input as the signature's dtype: float32, or uint8 for whole numbers 0-255 (a
    canvas); anything else is INVALID_ARGUMENT, naming the input and what it holds."""
    try:
        array = np.asarray(value, dtype=np.float32 if dtype != "DT_UINT8" else np.float64)
    except (TypeError, ValueError):
        raise ServingError("INVALID_ARGUMENT", f"input '{key}' must be a nested list of "
                           "numbers with one shape (a ragged list or a string?)") from None
    if dtype != "DT_UINT8":
        return array
    if array.size and not (np.isfinite(array).all() and (array == np.round(array)).all()
                           and array.min() >= 0 and array.max() <= 255):
        raise ServingError("INVALID_ARGUMENT", f"input '{key}' expects whole numbers 0-255 "
                           f"(8-bit grey pixels); got {array.min():g} to {array.max():g}"
                           + ("" if (array == np.round(array)).all() else ", with fractions"))
    return array.astype(np.uint8)


def fill_tensor(proto, array: np.ndarray):
    """Write a NumPy array (uint8 stays uint8, anything else becomes float32) into ``proto``,
    a ``TensorProto`` (``tensor_content``, no per-value fields); filling a response's own
    field in place saves a copy of the message."""
    uint8 = np.asarray(array).dtype == np.uint8
    array = np.ascontiguousarray(array, np.uint8 if uint8 else np.float32)
    proto.dtype = types_pb2.DT_UINT8 if uint8 else types_pb2.DT_FLOAT
    proto.tensor_content = array.tobytes()
    for size in array.shape:
        proto.tensor_shape.dim.add(size=size)
    return proto


def array_to_tensor(array: np.ndarray):
    """A NumPy array (uint8, or float32) as a new ``TensorProto``."""
    return fill_tensor(tensor_pb2.TensorProto(), array)


class Server:
    """The servicers of both APIs, the metrics and the model manager of one process."""

    def __init__(self, entries: list[ModelEntry], batching: Batching | None = None,
                 metrics_path: str | None = None) -> None:
        self.metrics = Metrics(models=[entry.name for entry in entries])
        self.manager = ModelManager(entries, batching, self.metrics)
        self.metrics_path = metrics_path

    # ---- requests, independent of the API ------------------------------------------------
    def _prepare(self, name: str, version: int | None, label: str, signature: str,
                 inputs: dict[str, np.ndarray]):
        """The servable a request names and its checked input batch."""
        servable = self.manager.resolve(name, version, label)
        in_specs, out_specs = servable.signature(signature)
        if len(inputs) != len(in_specs) or in_specs[0].key not in inputs:
            raise ServingError("INVALID_ARGUMENT", f"the request's inputs {sorted(inputs)} do "
                               f"not match the signature's {[s.key for s in in_specs]}")
        return servable, validate(inputs[in_specs[0].key], in_specs[0],
                                  self.manager.request_limit)

    async def _predict(self, name: str, version: int | None, label: str, signature: str,
                       inputs: dict[str, np.ndarray]):
        servable, x = self._prepare(name, version, label, signature, inputs)
        return servable, await self.manager.predict(servable, signature, x)

    def _record(self, name: str, status: str, api: str, entrypoint: str, start: float) -> None:
        self.metrics.request(name, status, api, entrypoint, time.perf_counter() - start)

    # ---- gRPC ----------------------------------------------------------------------------
    async def _grpc(self, raw: bytes, context, message, api: str, handle):
        start, name, status = time.perf_counter(), "", "OK"
        try:
            cpu = thread_time()
            try:
                request = message.FromString(raw)
            except DecodeError as error:
                raise ServingError("INVALID_ARGUMENT", f"could not parse the {api} request: "
                                   f"{error} (a truncated or foreign message?)") from None
            finally:
                self.metrics.cpu("decode", thread_time() - cpu)
            name = request.model_spec.name
            return await handle(request)
        except ServingError as error:
            status = error.code
            await context.abort(grpc.StatusCode[error.code], error.message)
        except asyncio.CancelledError:
            status = "CANCELLED"
            raise
        except Exception as error:
            status = "INTERNAL"
            log.exception("%s failed", api)
            await context.abort(grpc.StatusCode.INTERNAL, f"{type(error).__name__}: {error}")
        finally:
            self._record(name, status, api, "GRPC", start)

    @staticmethod
    def _version(spec) -> tuple[int | None, str]:
        return (spec.version.value if spec.HasField("version") else None), spec.version_label

    async def grpc_predict(self, raw: bytes, context) -> bytes:
        async def handle(request):
            cpu = thread_time()
            try:
                spec = request.model_spec
                inputs = {key: tensor_to_array(proto) for key, proto in request.inputs.items()}
                servable, x = self._prepare(spec.name, *self._version(spec),
                                            spec.signature_name, inputs)
            finally:
                self.metrics.cpu("convert", thread_time() - cpu)
            outputs = await self.manager.predict(servable, spec.signature_name, x)
            cpu = thread_time()
            response = predict_pb2.PredictResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            response.model_spec.signature_name = spec.signature_name or "serving_default"
            for key in request.output_filter or outputs:
                if key not in outputs:
                    raise ServingError("INVALID_ARGUMENT", f"output_filter names '{key}'; this "
                                       f"signature's outputs are {sorted(outputs)}")
                fill_tensor(response.outputs[key], outputs[key])
            body = response.SerializeToString()
            self.metrics.cpu("respond", thread_time() - cpu)
            return body
        return await self._grpc(raw, context, predict_pb2.PredictRequest, "predict", handle)

    async def grpc_metadata(self, raw: bytes, context) -> bytes:
        async def handle(request):
            if list(request.metadata_field) != ["signature_def"]:
                raise ServingError("INVALID_ARGUMENT", "metadata_field must be "
                                   "['signature_def'], the one field TF Serving supports")
            servable = self.manager.resolve(request.model_spec.name,
                                            *self._version(request.model_spec))
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = servable.name
            response.model_spec.version.value = servable.version
            response.metadata["signature_def"].Pack(servable.signature_map)
            return response.SerializeToString()
        return await self._grpc(raw, context, get_model_metadata_pb2.GetModelMetadataRequest,
                                "metadata", handle)

    def model_status(self, name: str, version: int | None, label: str = ""):
        """``GetModelStatusResponse`` for one model (every loaded version) or one version."""
        if version is not None or label:
            versions = [self.manager.resolve(name, version, label).version]
        else:
            if name not in self.manager.loaded:
                self.manager.resolve(name)  # NOT_FOUND, naming the models served
            versions = sorted(self.manager.loaded[name])
        response = get_model_status_pb2.GetModelStatusResponse()
        for v in versions:
            status = response.model_version_status.add(version=v)
            status.state = get_model_status_pb2.ModelVersionStatus.AVAILABLE
            status.status.error_message = ""
        return response

    async def grpc_status(self, raw: bytes, context) -> bytes:
        async def handle(request):
            return self.model_status(request.model_spec.name,
                                     *self._version(request.model_spec)).SerializeToString()
        return await self._grpc(raw, context, get_model_status_pb2.GetModelStatusRequest,
                                "status", handle)

    def grpc_handlers(self) -> list:
        def unary(fn):  # requests arrive as bytes, so a truncated one is ours to refuse
            return grpc.unary_unary_rpc_method_handler(fn)
        return [
            grpc.method_handlers_generic_handler("tensorflow.serving.PredictionService", {
                "Predict": unary(self.grpc_predict),
                "GetModelMetadata": unary(self.grpc_metadata)}),
            grpc.method_handlers_generic_handler("tensorflow.serving.ModelService", {
                "GetModelStatus": unary(self.grpc_status)}),
        ]

    # ---- REST ----------------------------------------------------------------------------
    ROUTE = re.compile(r"^(?P<name>[^/:]+)(?:/versions/(?P<version>\d+)|/labels/(?P<label>[^/:]+))?"
                       r"(?:(?P<metadata>/metadata)|:(?P<verb>[a-z]+))?$")

    async def rest(self, request: web.Request) -> web.Response:
        start, name, status, api = time.perf_counter(), "", "OK", "status"
        try:
            match = self.ROUTE.fullmatch(request.match_info["tail"])
            if not match:
                raise ServingError("NOT_FOUND", f"Malformed request: {request.method} "
                                   f"{request.path}; see /v1/models/<name>[:predict]")
            name, label = match["name"], match["label"] or ""
            version = int(match["version"]) if match["version"] else None
            if match["verb"]:
                api = match["verb"]
                if request.method != "POST" or match["verb"] != "predict":
                    raise ServingError("INVALID_ARGUMENT", f"only POST :predict is served here, "
                                       f"not {request.method} :{match['verb']}")
                body = await self._rest_predict(request, name, version, label)
            elif request.method != "GET":
                raise ServingError("INVALID_ARGUMENT", f"{request.method} needs :predict")
            elif match["metadata"]:
                api = "metadata"
                servable = self.manager.resolve(name, version, label)
                from google.protobuf import json_format
                body = {"model_spec": {"name": name, "signature_name": "",
                                       "version": str(servable.version)},
                        "metadata": {"signature_def": json_format.MessageToDict(
                            servable.signature_map, preserving_proto_field_name=True)}}
            else:
                from google.protobuf import json_format
                body = json_format.MessageToDict(self.model_status(name, version, label),
                                                 preserving_proto_field_name=True,
                                                 always_print_fields_with_no_presence=True)
            return web.json_response(body)
        except ServingError as error:
            status = error.code
            return web.json_response({"error": error.message}, status=error.http_status)
        finally:
            self._record(name, status, api, "REST", start)

    async def _rest_predict(self, request, name, version, label) -> dict:
        try:
            body = json.loads(await request.read())
        except (ValueError, UnicodeDecodeError) as error:
            raise ServingError("INVALID_ARGUMENT", f"JSON Parse error: {error}") from None
        if not isinstance(body, dict) or ("instances" in body) == ("inputs" in body):
            raise ServingError("INVALID_ARGUMENT", "the JSON body must be an object with "
                               "exactly one of 'instances' (rows) or 'inputs' (columns)")
        signature = body.get("signature_name", "")
        servable = self.manager.resolve(name, version, label)
        in_specs, _ = servable.signature(signature)
        rows = "instances" in body
        data = body["instances" if rows else "inputs"]
        if isinstance(data, dict):
            columns = data
        elif rows and data and all(isinstance(row, dict) for row in data):
            columns = {key: [row.get(key) for row in data] for key in data[0]}
        else:
            columns = {in_specs[0].key: data}
        dtypes = {spec.key: spec.dtype for spec in in_specs}
        inputs = {key: json_to_array(key, value, dtypes.get(key, "DT_FLOAT"))
                  for key, value in columns.items()}
        _, outputs = await self._predict(name, version, label, signature, inputs)
        if len(outputs) == 1:
            (value,) = outputs.values()
            return {"predictions" if rows else "outputs": value.tolist()}
        if rows:
            return {"predictions": [{k: v[i].tolist() for k, v in outputs.items()}
                                    for i in range(len(next(iter(outputs.values()))))]}
        return {"outputs": {k: v.tolist() for k, v in outputs.items()}}

    async def prometheus(self, request: web.Request) -> web.Response:
        return web.Response(text=self.metrics.render(), content_type="text/plain",
                            headers={"X-Content-Type-Options": "nosniff"})

    def rest_app(self) -> web.Application:
        app = web.Application(client_max_size=64 * 2**20)
        if self.metrics_path:
            app.router.add_get(self.metrics_path, self.prometheus)
        # [\s\S], not ".": a URL-encoded newline in a name must still reach self.rest, which
        # answers every path under /v1/models/ in TF Serving's JSON error format
        app.router.add_route("*", r"/v1/models/{tail:[\s\S]*}", self.rest)
        return app


async def serve(entries: list[ModelEntry], *, host: str = "127.0.0.1", port: int = 8500,
                rest_api_port: int = 0, batching: Batching | None = None,
                metrics_path: str | None = None, poll_seconds: float = 1.0,
                port_file: str | os.PathLike | None = None) -> None:
    """Run a server until SIGTERM or SIGINT, then shut down cleanly: refuse new requests,
    finish those in flight (2 s of grace), stop the batchers. Port 0 (gRPC) or -1 (REST)
    binds a free port; ``port_file`` then receives the ports bound, as JSON."""
    server = Server(entries, batching, metrics_path)
    await server.manager.sync()
    grpc_server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
    grpc_server.add_generic_rpc_handlers(server.grpc_handlers())
    port = grpc_server.add_insecure_port(f"{host}:{port}")
    await grpc_server.start()
    runner = None
    if rest_api_port:
        runner = web.AppRunner(server.rest_app(), access_log=None)
        await runner.setup()
        sock = socket.create_server((host, max(rest_api_port, 0)))  # -1: the kernel picks
        rest_api_port = sock.getsockname()[1]
        await web.SockSite(runner, sock).start()
    print(f"Running gRPC ModelServer at {host}:{port} ...", flush=True)
    if runner:
        print(f"Exporting HTTP/REST API at:{host}:{rest_api_port} ...", flush=True)
    if port_file:  # written whole, then renamed: a reader never sees half of it
        staging = Path(f"{port_file}.incoming")
        staging.write_text(json.dumps({"grpc": port, "rest": rest_api_port or None}))
        staging.replace(port_file)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    poller = loop.create_task(server.manager.poll(poll_seconds))
    try:
        await stop.wait()
    finally:
        poller.cancel()
        await grpc_server.stop(grace=2.0)
        if runner:
            await runner.cleanup()
        await server.manager.close()
