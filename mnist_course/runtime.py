"""The run a notebook is part of: its profile, its seed and the machine it runs on."""

from __future__ import annotations

import os
import platform
import random
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


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow/Keras, and ask TensorFlow for deterministic ops."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment_report(packages: tuple[str, ...] = (
    "tensorflow", "keras", "numpy", "hyperopt", "scikit-learn", "ai-edge-litert", "matplotlib",
)) -> dict[str, str]:
    """Python, package versions, CPU threads and accelerators, as a dict of strings."""
    import tensorflow as tf

    report = {"python": platform.python_version(), "platform": platform.platform()}
    report.update({name: _version(name) for name in packages})
    report["cpu threads"] = str(os.cpu_count())
    gpus = tf.config.list_physical_devices("GPU")
    report["gpu"] = ", ".join(g.name for g in gpus) if gpus else "none (CPU only)"
    return report
