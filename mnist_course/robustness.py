"""Harder versions of the test set, deterministic for a seed, labels unchanged.

``cluttered`` puts digits on busy backgrounds, in the spirit of the "MNIST variations"
benchmarks (Larochelle et al., 2007: mnist-back-rand and mnist-back-image). Those used
natural-image patches; offline we make clutter from noise and from other digits' strokes.
"""

from __future__ import annotations

import numpy as np

CLUTTER_KINDS = ("noise", "digits")


def _check_images(images: np.ndarray) -> None:
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise ValueError(
            f"expected uint8 images of shape (N, 28, 28), got {images.dtype} {images.shape}"
        )


def cluttered(images: np.ndarray, kind: str = "noise", seed: int = 0,
              strength: float = 0.5, donors: np.ndarray | None = None) -> np.ndarray:
    """Return uint8 copies of ``images`` on cluttered backgrounds; the digit stays on top.

    - ``"noise"``: every background pixel uniform in ``[0, 255 * strength]``
      (as mnist-back-rand).
    - ``"digits"``: the sum of three randomly shifted, rotated-by-90-degree-multiples pieces of
      other digits (``donors``, default ``images`` itself), scaled to at most
      ``255 * strength``: stroke-like clutter that looks like ink but not like a digit.

    Pixels combine as ``max(digit, background)``, so the digit's own strokes are unchanged.
    """
    _check_images(images)
    if kind not in CLUTTER_KINDS:
        raise ValueError(f"unknown clutter kind {kind!r}; use one of {CLUTTER_KINDS}")
    if not 0.0 < strength <= 1.0:
        raise ValueError(f"strength must be in (0, 1], got {strength}")
    rng = np.random.default_rng(seed)
    n = len(images)
    if kind == "noise":
        background = rng.uniform(0.0, 255.0 * strength, size=images.shape)
    else:
        donors = images if donors is None else donors
        _check_images(donors)
        background = np.zeros(images.shape, dtype=np.float32)
        for _ in range(3):
            picked = donors[rng.integers(0, len(donors), n)].astype(np.float32)
            turns = rng.integers(1, 4, n)  # rotate by 90, 180 or 270 degrees: no longer a digit
            shifts = rng.integers(-10, 11, (n, 2))
            for i in range(n):
                piece = np.rot90(picked[i], turns[i])
                background[i] += np.roll(piece, tuple(shifts[i]), axis=(0, 1))
        background = np.minimum(background, 255.0) * strength
    out = np.maximum(images.astype(np.float32), background)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def cluttered_set(images: np.ndarray, labels: np.ndarray, seed: int = 0,
                  strength: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Every image twice, once per clutter kind: ``(2N, 28, 28)`` uint8 and the labels, in order.

    The two kinds draw from independent streams of ``seed``, so the set is the same on every
    machine for a given seed.
    """
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    parts = [cluttered(images, kind, seed=seed * len(CLUTTER_KINDS) + k, strength=strength)
             for k, kind in enumerate(CLUTTER_KINDS)]
    return np.concatenate(parts), np.concatenate([labels] * len(CLUTTER_KINDS))
