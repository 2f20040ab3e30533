"""Small clients of TF Serving's APIs, for either server.

``TF_SERVING_GRPC`` (host:port) and ``TF_SERVING_REST`` (a URL) point them at a server; unset,
they use TF Serving's default ports on this machine. The chapter writes its own client cell by
cell; these are the same few lines, shared with the load generator and the tests.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

import numpy as np


def grpc_target() -> str:
    return os.environ.get("TF_SERVING_GRPC", "127.0.0.1:8500")


def rest_url() -> str:
    return os.environ.get("TF_SERVING_REST", "http://127.0.0.1:8501").rstrip("/")


def predict_request(images: np.ndarray, model: str = "mnist", version: int | None = None,
                    label: str = "", input_key: str = "keras_tensor",
                    signature: str = "serving_default"):
    """A ``PredictRequest`` for a batch of images shaped (n, 28, 28, 1), float32 in [0, 1]."""
    from mnist_course.serving.server import array_to_tensor, predict_pb2

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    if version is not None:
        request.model_spec.version.value = version
    if label:
        request.model_spec.version_label = label
    request.inputs[input_key].CopyFrom(array_to_tensor(images))
    return request


def grpc_predict(images: np.ndarray, target: str | None = None, timeout: float = 10.0,
                 **spec) -> tuple[np.ndarray, int]:
    """The model's output for ``images`` (logits, for the course's models) over gRPC, and the
    version that answered."""
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    from mnist_course.serving.server import tensor_to_array

    with grpc.insecure_channel(target or grpc_target()) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(predict_request(images, **spec), timeout=timeout)
    (output,) = response.outputs.values()
    return tensor_to_array(output), response.model_spec.version.value


def rest(path: str, body: dict | None = None, url: str | None = None,
         timeout: float = 10.0) -> tuple[int, dict]:
    """GET (or POST ``body`` as JSON to) ``url + path``; the HTTP status and the JSON reply,
    errors included (TF Serving answers them as ``{"error": ...}``)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request((url or rest_url()) + path, data=data,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")
