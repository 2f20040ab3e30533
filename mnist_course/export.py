"""From a trained Keras model to deployable artefacts: a SavedModel in TF Serving's layout,
and TFLite flatbuffers in four variants, run with the LiteRT interpreter.

| variant | weights | activations | input / output |
|---|---|---|---|
| ``float32`` | float32 | float32 | float32 |
| ``dynamic_range`` | int8 | float32 (weights dequantised on the fly) | float32 |
| ``float16`` | float16 | float32 | float32 |
| ``int8`` | int8 | int8 (calibrated on representative data) | uint8 |
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from mnist_course.course.profile import import_tensorflow, quiet_stderr

VARIANTS = ("float32", "dynamic_range", "float16", "int8")


def export_saved_model(model, base: str | os.PathLike, name: str = "mnist",
                       version: int = 1) -> Path:
    """Write ``model`` as a SavedModel at ``base/name/version`` (TF Serving's layout), atomically.

    The export goes to a hidden temporary folder beside the target and is renamed into place
    only when complete, so a server polling ``base/name`` never sees a half-written version.
    Refuses to overwrite an existing version.
    """
    target = Path(base) / name / str(int(version))
    if target.exists():
        raise FileExistsError(f"{target} exists: versions are immutable, export a new version")
    import_tensorflow()  # quiet start-up and logging
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{version}-", dir=target.parent))
    try:
        model.export(str(staging / "model"), format="tf_saved_model", verbose=False)
        os.replace(staging / "model", target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def to_tflite(saved_model_dir: str | os.PathLike, variant: str = "float32",
              representative: np.ndarray | None = None) -> bytes:
    """Convert a SavedModel to a TFLite flatbuffer of the given variant (see module docstring).

    ``int8`` needs ``representative``: a few hundred float32 training images ``(N, 28, 28, 1)``
    in [0, 1], from which the converter calibrates every activation's range.
    """
    tf = import_tensorflow()
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; use one of {VARIANTS}")
    converter = tf.lite.TFLiteConverter.from_saved_model(str(saved_model_dir))
    if variant != "float32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if variant == "int8":
        if representative is None:
            raise ValueError("the int8 variant needs representative images for calibration")
        samples = np.asarray(representative, dtype=np.float32)

        def calibration() -> Iterable[list[np.ndarray]]:
            for image in samples:
                yield [image[np.newaxis]]

        converter.representative_dataset = calibration
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    with quiet_stderr():  # the converter's native progress lines
        return converter.convert()


def quantize(x: np.ndarray, scale: float, zero_point: int, dtype=np.uint8) -> np.ndarray:
    """Real values to integers: ``round(x / scale) + zero_point``, clipped to ``dtype``'s range."""
    info = np.iinfo(dtype)
    q = np.round(np.asarray(x, dtype=np.float32) / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Integers back to real values: ``(q - zero_point) * scale``, as float32."""
    return ((np.asarray(q).astype(np.int32) - zero_point) * scale).astype(np.float32)


class TFLiteModel:
    """A TFLite model in the LiteRT interpreter, called like a Keras model on float images.

    ``predict(images)`` takes float32 ``(N, 28, 28, 1)`` in [0, 1], quantises them if the model
    wants integers, runs one image per ``invoke`` (the input is built for batch 1) and returns
    float logits (dequantised when the output is an integer tensor).
    """

    def __init__(self, model: bytes | str | os.PathLike, num_threads: int = 1) -> None:
        from ai_edge_litert.interpreter import Interpreter

        content = model if isinstance(model, bytes) else Path(model).read_bytes()
        self.size_bytes = len(content)
        with quiet_stderr():  # "INFO: Created TensorFlow Lite XNNPACK delegate for CPU."
            self.interpreter = Interpreter(model_content=content, num_threads=num_threads)
            self.interpreter.allocate_tensors()
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]

    def invoke_raw(self, batch: np.ndarray) -> np.ndarray:
        """Run one batch already in the model's input dtype; return the raw output tensor."""
        shape = tuple(int(n) for n in self.input["shape"])
        if batch.shape != shape or batch.dtype != self.input["dtype"]:
            raise ValueError(f"expected {self.input['dtype'].__name__} {shape}, "
                             f"got {batch.dtype} {batch.shape}")
        self.interpreter.set_tensor(self.input["index"], batch)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])

    def to_input(self, images: np.ndarray) -> np.ndarray:
        """Float images in [0, 1] to the model's input dtype."""
        if np.issubdtype(self.input["dtype"], np.integer):
            scale, zero_point = self.input["quantization"]
            return quantize(images, scale, zero_point, self.input["dtype"])
        return np.asarray(images, dtype=self.input["dtype"])

    def from_output(self, raw: np.ndarray) -> np.ndarray:
        if np.issubdtype(self.output["dtype"], np.integer):
            scale, zero_point = self.output["quantization"]
            return dequantize(raw, scale, zero_point)
        return raw.astype(np.float32)

    def predict(self, images: np.ndarray) -> np.ndarray:
        x = self.to_input(images)
        return np.concatenate([self.from_output(self.invoke_raw(x[i : i + 1]))
                               for i in range(len(x))])

    def tensor_types(self) -> dict[str, int]:
        """How many tensors of each dtype the model holds (weights, activations, I/O)."""
        kinds: dict[str, int] = {}
        for detail in self.interpreter.get_tensor_details():
            name = np.dtype(detail["dtype"]).name
            kinds[name] = kinds.get(name, 0) + 1
        return kinds

    def ops(self) -> list[dict]:
        """The model's operators in execution order: name, input and output tensor indices.

        Nodes named DELEGATE (the XNNPACK subgraphs that take over runs of operators) are left
        out: the operators they replaced are listed themselves."""
        ops = self.interpreter._get_ops_details()  # the interpreter's only op listing
        return [op for op in ops if op["op_name"] != "DELEGATE"]

    def op_macs(self) -> list[tuple[int, str, int]]:
        """Multiply-accumulates of each operator for one image: ``(index, op name, MACs)``.

        Counted for CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED from tensor shapes; other
        operators (pooling, reshapes, quantize) count as 0.
        """
        shapes = {d["index"]: tuple(d["shape"]) for d in self.interpreter.get_tensor_details()}
        costs = []
        for op in self.ops():
            name = op["op_name"]
            out = shapes.get(op["outputs"][0], ())
            weights = shapes.get(op["inputs"][1], ()) if len(op["inputs"]) > 1 else ()
            if name in ("CONV_2D", "DEPTHWISE_CONV_2D"):
                # each output pixel costs one MAC per weight: (C_out, kh, kw, C_in) for a
                # convolution, (1, kh, kw, C) for a depthwise one; output (1, H, W, C_out)
                macs = out[1] * out[2] * int(np.prod(weights))
            elif name == "FULLY_CONNECTED":  # weights (out, in)
                macs = int(np.prod(weights))
            else:
                macs = 0
            costs.append((op["index"], name, int(macs)))
        return costs
