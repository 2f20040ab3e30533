"""MNIST, loaded from verified files.

A registry of the four original IDX files and their SHA-256 sums, and one documented
function, :func:`load_mnist`, that finds them, checks them and returns NumPy arrays.

Lookup order for the files:

1. the folder named by the ``MNIST_COURSE_DATA`` environment variable,
2. the repository's ``data/`` folder,
3. Keras's cache (``~/.keras/datasets/mnist.npz``), downloading it if the network allows.

Every byte is checked against the sums below before an array is returned: a file that
fails the check raises :class:`MnistDataError`, which names the file and the fix.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import zlib
from pathlib import Path
from typing import NamedTuple

import numpy as np

ENV_VAR = "MNIST_COURSE_DATA"
REPO_DATA = Path(__file__).resolve().parent.parent / "data"

#: SHA-256 of each *decompressed* IDX file, as published with the original data set.
SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

#: Expected IDX header of each file: (magic number, dimensions).
HEADERS = {
    "train-images-idx3-ubyte": (0x0803, (60000, 28, 28)),
    "train-labels-idx1-ubyte": (0x0801, (60000,)),
    "t10k-images-idx3-ubyte": (0x0803, (10000, 28, 28)),
    "t10k-labels-idx1-ubyte": (0x0801, (10000,)),
}

FIX = (
    "Restore the original files with `git checkout -- data/` in the course repository, "
    "or point MNIST_COURSE_DATA at a folder holding the four original IDX files "
    "(gzip-compressed or not); `python -m mnist_course data verify` checks them."
)


class MnistDataError(RuntimeError):
    """A data file is missing, damaged or not the original."""


class Mnist(NamedTuple):
    """The four MNIST arrays, as uint8."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


class Split(NamedTuple):
    """The course's train/validation/test split; images uint8 (N, 28, 28)."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def find_data_dir() -> Path | None:
    """Return the first folder that holds the IDX files, or None to use Keras's cache."""
    env = os.environ.get(ENV_VAR)
    if env:
        folder = Path(env).expanduser()
        if not folder.is_dir():
            raise MnistDataError(
                f"{ENV_VAR}={env!r} is not a folder. Set it to the folder holding the four "
                f"MNIST IDX files, or unset it to use {REPO_DATA}."
            )
        return folder
    if any(_candidates(REPO_DATA, name)[0].exists() for name in SHA256):
        return REPO_DATA
    return None


def _candidates(folder: Path, name: str) -> tuple[Path, Path]:
    return folder / f"{name}.gz", folder / name


def read_idx(folder: Path, name: str) -> np.ndarray:
    """Read one IDX file (``name.gz`` or ``name``) from ``folder``, verified, as uint8."""
    gz, raw = _candidates(folder, name)
    if gz.exists():
        path = gz
        try:
            blob = gzip.decompress(gz.read_bytes())
        except (OSError, EOFError, zlib.error) as err:
            raise MnistDataError(f"{gz}: not a readable gzip file ({err}). {FIX}") from err
    elif raw.exists():
        path, blob = raw, raw.read_bytes()
    else:
        raise MnistDataError(f"{gz}: file not found (nor {raw.name}). {FIX}")
    return parse_idx(blob, name, str(path))


def parse_idx(blob: bytes, name: str, source: str) -> np.ndarray:
    """Check the header and the SHA-256 of one decompressed IDX file, return its array."""
    magic, dims = HEADERS[name]
    header_len = 4 + 4 * len(dims)
    found = int.from_bytes(blob[:4], "big") if len(blob) >= 4 else None
    if found != magic:
        shown = "none" if found is None else f"0x{found:08x}"
        raise MnistDataError(
            f"{source}: wrong IDX magic number {shown}, expected 0x{magic:08x} "
            f"(is this the right file?). {FIX}"
        )
    shape = tuple(int.from_bytes(blob[4 + 4 * i : 8 + 4 * i], "big") for i in range(len(dims)))
    if shape != dims:
        raise MnistDataError(f"{source}: IDX header says shape {shape}, expected {dims}. {FIX}")
    if len(blob) != header_len + int(np.prod(dims)):
        raise MnistDataError(
            f"{source}: {len(blob)} bytes after decompression, expected "
            f"{header_len + int(np.prod(dims))} (truncated or padded). {FIX}"
        )
    digest = hashlib.sha256(blob).hexdigest()
    if digest != SHA256[name]:
        raise MnistDataError(
            f"{source}: SHA-256 {digest} does not match the original {SHA256[name]}. {FIX}"
        )
    return np.frombuffer(blob, dtype=np.uint8, offset=header_len).reshape(dims).copy()


def _idx_bytes(array: np.ndarray, name: str) -> bytes:
    """Rebuild the original IDX file from an array (to verify Keras's npz against SHA256)."""
    magic, _ = HEADERS[name]
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def _load_from_keras() -> Mnist:
    try:
        import keras

        (x_tr, y_tr), (x_te, y_te) = keras.datasets.mnist.load_data()
    except Exception as err:  # offline, or the cached npz is damaged
        raise MnistDataError(
            f"No MNIST files in {REPO_DATA}, {ENV_VAR} is not set, and Keras could not "
            f"load or download mnist.npz ({type(err).__name__}: {err}). {FIX}"
        ) from err
    arrays = dict(zip(SHA256, (x_tr, y_tr, x_te, y_te)))
    for name, array in arrays.items():
        parse_idx(_idx_bytes(array, name), name, f"keras cache mnist.npz ({name})")
    return Mnist(x_tr, y_tr, x_te, y_te)


def load_mnist(data_dir: str | os.PathLike | None = None) -> Mnist:
    """Load MNIST as uint8 arrays ``(60000, 28, 28), (60000,), (10000, 28, 28), (10000,)``.

    ``data_dir`` overrides the lookup order in the module docstring. Every file is
    verified against :data:`SHA256`; on any problem :class:`MnistDataError` is raised
    and nothing is returned.
    """
    folder = Path(data_dir) if data_dir is not None else find_data_dir()
    if folder is None:
        return _load_from_keras()
    return Mnist(*(read_idx(folder, name) for name in SHA256))


def verify(data_dir: str | os.PathLike | None = None) -> list[str]:
    """Check every file; return one line per file, raising on the first bad one."""
    folder = Path(data_dir) if data_dir is not None else find_data_dir()
    if folder is None:
        _load_from_keras()
        return [f"{name}: OK (keras cache)" for name in SHA256]
    return [f"{name}: OK ({read_idx(folder, name).shape})" for name in SHA256]


def train_val_split(
    images: np.ndarray, labels: np.ndarray, val_size: int = 5000, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split off a class-stratified validation set of ``val_size`` images, deterministically.

    Each class contributes in proportion to its share of ``labels``; the same seed always
    gives the same indices. Returns ``x_train, y_train, x_val, y_val``.
    """
    if not 0 < val_size < len(labels):
        raise ValueError(f"val_size must be between 1 and {len(labels) - 1}, got {val_size}")
    rng = np.random.default_rng(seed)
    counts = np.bincount(labels, minlength=10)
    per_class = np.floor(counts * val_size / len(labels)).astype(int)
    # hand the rounding remainder to the classes with the largest fractional parts
    remainder = counts * val_size / len(labels) - per_class
    per_class[np.argsort(-remainder, kind="stable")[: val_size - per_class.sum()]] += 1
    val_idx = np.concatenate(
        [rng.permutation(np.flatnonzero(labels == c))[:k] for c, k in enumerate(per_class)]
    )
    val_mask = np.zeros(len(labels), dtype=bool)
    val_mask[val_idx] = True
    return images[~val_mask], labels[~val_mask], images[val_mask], labels[val_mask]


def load_split(val_size: int = 5000, seed: int = 0) -> Split:
    """The split every chapter uses: 55k train, 5k stratified validation, the 10k test set."""
    mnist = load_mnist()
    x_train, y_train, x_val, y_val = train_val_split(
        mnist.x_train, mnist.y_train, val_size=val_size, seed=seed
    )
    return Split(x_train, y_train, x_val, y_val, mnist.x_test, mnist.y_test)


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 ``(N, 28, 28)`` -> float32 ``(N, 28, 28, 1)`` scaled to [0, 1]."""
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(f"expected images of shape (N, 28, 28), got {images.shape}")
    return (images.astype(np.float32) / 255.0)[..., np.newaxis]
