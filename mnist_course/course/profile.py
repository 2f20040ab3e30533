"""The run a notebook is part of: its profile, its seed and the machine it runs on."""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import random
import sys
from collections.abc import Iterator
from importlib import metadata

import numpy as np

PROFILE_VAR = "MNIST_COURSE_PROFILE"
PROFILES = ("quick", "full")


def active_profile(default: str = "full") -> str:
    """The profile to run: ``MNIST_COURSE_PROFILE`` if set, else ``default``.

    ``quick`` runs a notebook in well under a minute (small subsets, 1-2 epochs) and is what
    pytest, CI and ``make course`` use; ``full`` is the experiment whose numbers the book shows.
    """
    profile = os.environ.get(PROFILE_VAR, "").strip() or default
    if profile not in PROFILES:
        raise ValueError(
            f"Unknown profile {profile!r} (from {PROFILE_VAR} or the notebook's parameters "
            f"cell); use one of {PROFILES}, e.g. `export {PROFILE_VAR}=quick`."
        )
    return profile


def import_tensorflow():
    """Import and return ``tensorflow`` without its C++ start-up log lines.

    TensorFlow 2.21 prints "oneDNN custom operations are on" and "Could not find cuda
    drivers" through absl before ``TF_CPP_MIN_LOG_LEVEL`` is read, straight to file
    descriptor 2, so notebooks would show them as error output. Call this before the first
    ``import tensorflow`` or ``import keras``; later imports reuse the loaded module.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if "tensorflow" not in sys.modules:
        with quiet_stderr():
            import tensorflow  # noqa: F401
    tf = sys.modules["tensorflow"]
    tf.get_logger().setLevel(logging.ERROR)  # "Assets written to ..." and the like
    return tf


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 for the block: native libraries (TensorFlow's converter,
    LiteRT's delegates) log there directly, out of reach of Python's logging. Exceptions
    still propagate, with their messages."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow/Keras, and ask TensorFlow for deterministic ops."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    tf = import_tensorflow()
    import keras

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe_machine() -> str:
    """One line naming what a measurement ran on, e.g. "AMD EPYC, 2 CPU threads, no GPU"."""
    tf = import_tensorflow()

    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    gpus = tf.config.list_physical_devices("GPU")
    gpu = ", ".join(_gpu_name(g) for g in gpus) if gpus else "no GPU"
    return f"{cpu}, {os.cpu_count()} CPU threads, {gpu}"


def _gpu_name(device) -> str:
    tf = import_tensorflow()
    return tf.config.experimental.get_device_details(device).get("device_name", device.name)


def environment_report(packages: tuple[str, ...] = (
    "tensorflow", "keras", "numpy", "hyperopt", "scikit-learn", "ai-edge-litert", "matplotlib",
)) -> dict[str, str]:
    """Python, package versions, CPU threads and accelerators, as a dict of strings."""
    tf = import_tensorflow()

    report = {"python": platform.python_version(), "platform": platform.platform()}
    report.update({name: _version(name) for name in packages})
    report["cpu threads"] = str(os.cpu_count())
    gpus = tf.config.list_physical_devices("GPU")
    report["gpu"] = ", ".join(g.name for g in gpus) if gpus else "none (CPU only)"
    return report
