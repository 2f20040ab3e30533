"""A second, real digit set: the UCI handwritten digits that scikit-learn ships, brought into
MNIST's format the way MNIST itself was made. No download: the 1,797 digits are in
scikit-learn's wheel."""

from __future__ import annotations

import numpy as np


def mnist_format(images: np.ndarray, max_value: float, box: int = 20,
                 size: int = 28) -> np.ndarray:
    """Bring grey digits of any small size into MNIST's format, the way MNIST was made:
    crop to the ink, scale the longer side to ``box`` pixels keeping the aspect ratio
    (bilinear, which anti-aliases), and place the result in a ``size`` x ``size`` field so
    that its centre of mass falls on the field's centre (to the nearest pixel).

    ``images``: ``(N, H, W)`` with values in ``[0, max_value]``. Returns uint8 ``(N, 28, 28)``.
    Refuses a blank image (no ink to centre), naming its index.
    """
    from scipy import ndimage

    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3:
        raise ValueError(f"expected images of shape (N, H, W), got {images.shape}")
    if images.size and (images.min() < 0 or images.max() > max_value):
        raise ValueError(f"pixel values must lie in [0, {max_value}], found "
                         f"{images.min():g} to {images.max():g}")
    out = np.zeros((len(images), size, size), dtype=np.uint8)
    for i, image in enumerate(images):
        rows, cols = np.flatnonzero(image.any(axis=1)), np.flatnonzero(image.any(axis=0))
        if rows.size == 0:
            raise ValueError(f"image {i} is blank: there is no digit to centre")
        ink = image[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1] * (255.0 / max_value)
        scaled = ndimage.zoom(ink, box / max(ink.shape), order=1, grid_mode=True,
                              mode="grid-constant")
        scaled = np.clip(scaled, 0, 255)
        h, w = scaled.shape
        canvas = np.zeros((size, size))
        top, left = (size - h) // 2, (size - w) // 2
        canvas[top:top + h, left:left + w] = scaled
        centre = (size - 1) / 2
        dy, dx = np.round(centre - np.array(ndimage.center_of_mass(canvas))).astype(int)
        canvas = ndimage.shift(canvas, (dy, dx), order=0, mode="constant")
        out[i] = np.round(canvas).astype(np.uint8)
    return out


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 UCI handwritten digits (Alpaydin and Kaynak, 1998; 8x8, values 0-16) from
    scikit-learn's wheel, in MNIST's format: uint8 ``(1797, 28, 28)`` and labels ``(1797,)``.
    No download. They were written by other people, scanned differently and reduced to 8x8
    blocks: a real distribution shift for any model trained on MNIST."""
    from sklearn import datasets

    digits = datasets.load_digits()
    return mnist_format(digits.images, max_value=16.0), digits.target.astype(np.uint8)
