"""One Keras model on other inference runtimes: ONNX Runtime, OpenVINO and (where an NVIDIA
GPU and the ``tensorrt`` wheel exist) TensorRT, each wrapped as ``predict(images) ->
probabilities or logits``, and the agreement check every runtime must pass against Keras."""

from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np


class Agreement(NamedTuple):
    """How far a runtime's outputs are from the reference model's on the same images."""

    argmax: float          # share of images with the same predicted class
    max_difference: float  # largest absolute difference of any output value
    n: int


def agreement(reference: np.ndarray, other: np.ndarray) -> Agreement:
    reference, other = np.asarray(reference, np.float64), np.asarray(other, np.float64)
    if reference.shape != other.shape:
        raise ValueError(f"outputs differ in shape: {reference.shape} and {other.shape}")
    return Agreement(float((reference.argmax(1) == other.argmax(1)).mean()),
                     float(np.abs(reference - other).max()), len(reference))


def onnx_runner(path: str | os.PathLike, threads: int = 1):
    """``predict(images)`` through ONNX Runtime on the CPU, ``threads`` intra-op threads."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name

    def predict(images: np.ndarray) -> np.ndarray:
        return session.run(None, {name: np.asarray(images, np.float32)})[0]

    return predict


def openvino_runner(path: str | os.PathLike, threads: int = 1, precision: str = "f32"):
    """``predict(images)`` through OpenVINO's CPU plugin, ``threads`` inference threads.

    ``precision`` is set, not left to OpenVINO: on a CPU with native bfloat16 (AVX-512 BF16
    or AMX) its default is ``bf16``, which would compare a 16-bit model with float32 ones."""
    import openvino as ov

    core = ov.Core()
    model = core.read_model(str(path))
    compiled = core.compile_model(model, "CPU", {"INFERENCE_NUM_THREADS": threads,
                                                 "INFERENCE_PRECISION_HINT": precision})
    request = compiled.create_infer_request()
    output = compiled.output(0)

    def predict(images: np.ndarray) -> np.ndarray:
        return request.infer([np.asarray(images, np.float32)])[output].copy()

    return predict


def tensorrt_status() -> tuple[bool, str]:
    """Whether a TensorRT engine can be built here, and in one line why not."""
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False, ("the `tensorrt` wheel is not installed (it comes from NVIDIA's package "
                       "index and needs an NVIDIA GPU)")
    gpus = nvidia_gpus()
    if not gpus:
        return False, ("`tensorrt` is installed but the NVIDIA driver reports no GPU "
                       "(libcuda: cuDeviceGetCount)")
    return True, f"{gpus} NVIDIA GPU(s) and `tensorrt` are present"


def nvidia_gpus() -> int:
    """How many GPUs the NVIDIA driver sees (``cuDeviceGetCount`` in ``libcuda``), 0 where
    there is no driver. Asked of the driver itself: a CPU-only TensorFlow never reports a GPU,
    whatever the machine has."""
    import ctypes

    try:
        cuda = ctypes.CDLL("libcuda.so.1")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


def tensorrt_runner(onnx_path: str | os.PathLike, precision: str,
                    calibration: np.ndarray | None = None):
    """``predict(images)`` through a TensorRT engine built from the ONNX file, in ``"fp16"``
    or ``"int8"`` (calibrated with an entropy calibrator on ``calibration`` images).

    Needs an NVIDIA GPU, ``tensorrt`` (10.x) and ``cuda-python``; only chapter 06's TensorRT
    cell calls it, after :func:`tensorrt_status` says both are there. The course's own runs
    had no GPU, so this path has not run in them.
    """
    import tensorrt as trt
    from cuda.bindings import runtime as cudart

    def check(result):
        err, *rest = result if isinstance(result, tuple) else (result,)
        if err != cudart.cudaError_t.cudaSuccess:
            raise RuntimeError(f"CUDA call failed: {err}")
        return rest[0] if len(rest) == 1 else rest

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    network = builder.create_network(0)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(open(onnx_path, "rb").read()):
        raise RuntimeError(f"TensorRT could not parse {onnx_path}: "
                           + "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors)))
    config = builder.create_builder_config()
    batch_shape = (1, 28, 28, 1)
    profile = builder.create_optimization_profile()
    name = network.get_input(0).name
    profile.set_shape(name, batch_shape, (64, 28, 28, 1), (512, 28, 28, 1))
    config.add_optimization_profile(profile)
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    elif precision == "int8":
        if calibration is None:
            raise ValueError("int8 needs calibration images")
        config.set_flag(trt.BuilderFlag.INT8)
        config.int8_calibrator = _calibrator(trt, cudart, check, calibration)
        config.set_calibration_profile(profile)
    else:
        raise ValueError(f"precision must be 'fp16' or 'int8', got {precision!r}")
    engine = trt.Runtime(logger).deserialize_cuda_engine(
        builder.build_serialized_network(network, config))
    context = engine.create_execution_context()
    out_name = engine.get_tensor_name(1)
    # device buffers for the largest batch the profile allows, allocated once: a timed
    # call then pays for the copies and the engine, not for cudaMalloc
    largest = 512
    d_in = check(cudart.cudaMalloc(largest * 28 * 28 * 4))
    d_out = check(cudart.cudaMalloc(largest * 10 * 4))
    context.set_tensor_address(name, int(d_in))
    context.set_tensor_address(out_name, int(d_out))

    def predict(images: np.ndarray) -> np.ndarray:
        x = np.ascontiguousarray(images, np.float32)
        if len(x) > largest:
            raise ValueError(f"at most {largest} images per call, got {len(x)}")
        context.set_input_shape(name, x.shape)
        out = np.empty(tuple(context.get_tensor_shape(out_name)), np.float32)
        check(cudart.cudaMemcpy(d_in, x.ctypes.data, x.nbytes,
                                cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))
        context.execute_async_v3(0)
        check(cudart.cudaMemcpy(out.ctypes.data, d_out, out.nbytes,
                                cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost))
        return out

    predict.buffers = (d_in, d_out)  # freed with the process
    return predict


def _calibrator(trt, cudart, check, images: np.ndarray, batch: int = 50):
    """TensorRT's entropy calibrator over ``images``, ``batch`` at a time."""

    class Calibrator(trt.IInt8EntropyCalibrator2):
        def __init__(self):
            super().__init__()
            self.batches = [np.ascontiguousarray(images[i:i + batch], np.float32)
                            for i in range(0, len(images) - batch + 1, batch)]
            self.device = check(cudart.cudaMalloc(self.batches[0].nbytes))

        def get_batch_size(self):
            return batch

        def get_batch(self, names):
            if not self.batches:
                return None
            x = self.batches.pop(0)
            check(cudart.cudaMemcpy(self.device, x.ctypes.data, x.nbytes,
                                    cudart.cudaMemcpyKind.cudaMemcpyHostToDevice))
            return [int(self.device)]

        def read_calibration_cache(self):
            return None

        def write_calibration_cache(self, cache):
            return None

    return Calibrator()
