"""Corrupted digits in the spirit of MNIST-C (Mu and Gilmer, 2019), written for this course.

MNIST-C itself cannot be downloaded here, so each of its fifteen corruption kinds is
re-implemented from its description, at one fixed severity: the images differ from the
published set, the kinds are the same. Every function takes uint8 images ``(N, 28, 28)`` and
a seed, returns new uint8 images of the same shape (labels are never touched), and gives the
same output for the same seed. Use :func:`corrupt` with one of :data:`KINDS`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

SIZE = 28


def _check(images: np.ndarray) -> np.ndarray:
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (SIZE, SIZE):
        raise ValueError(f"expected uint8 images of shape (N, 28, 28), got {images.dtype} "
                         f"{images.shape}; MNIST's raw pixels (split.x_test), not model input")
    return images.astype(np.float32) / 255.0


def _to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def _affine(x: np.ndarray, matrices: np.ndarray, offsets: np.ndarray | None = None) -> np.ndarray:
    """Apply one 2x2 matrix per image about the centre (output -> input coordinates), plus an
    optional shift in pixels; bilinear, black fill."""
    centre = np.array([(SIZE - 1) / 2] * 2)
    out = np.empty_like(x)
    for i, (image, m) in enumerate(zip(x, matrices)):
        shift = 0 if offsets is None else offsets[i]
        out[i] = ndimage.affine_transform(image, m, offset=centre - m @ (centre + shift),
                                          order=1, mode="constant", cval=0.0)
    return out


def _signs(rng: np.random.Generator, n: int) -> np.ndarray:
    return np.where(rng.random(n) < 0.5, -1.0, 1.0)


def shot_noise(x, rng):
    """Photon noise: Poisson counts with a mean of 60 at full brightness."""
    return rng.poisson(x * 60.0) / 60.0


def impulse_noise(x, rng):
    """Salt and pepper: 27% of the pixels set to black or white at random."""
    hit, salt = rng.random(x.shape) < 0.27, rng.random(x.shape) < 0.5
    return np.where(hit, salt.astype(np.float32), x)


def glass_blur(x, rng):
    """Frosted glass: blur, swap each pixel with a random neighbour (up to 1 pixel away)
    twice, blur again."""
    x = ndimage.gaussian_filter(x, sigma=(0, 0.7, 0.7))
    n = len(x)
    rows, cols = np.meshgrid(np.arange(SIZE), np.arange(SIZE), indexing="ij")
    for _ in range(2):
        dr, dc = rng.integers(-1, 2, size=(2, n, SIZE, SIZE))
        r, c = np.clip(rows + dr, 0, SIZE - 1), np.clip(cols + dc, 0, SIZE - 1)
        x = x[np.arange(n)[:, None, None], r, c]
    return ndimage.gaussian_filter(x, sigma=(0, 0.7, 0.7))


def motion_blur(x, rng):
    """A straight smear 7 pixels long, at one of four angles per image."""
    out = np.empty_like(x)
    angles = rng.integers(0, 4, len(x))
    horizontal = np.zeros((7, 7))
    horizontal[3] = 1.0
    kernels = (horizontal, horizontal.T, np.eye(7), np.fliplr(np.eye(7)))  # 0, 90, 45, 135
    for a, kernel in enumerate(kernels):
        chosen = angles == a
        out[chosen] = ndimage.convolve(x[chosen], kernel[None] / kernel.sum(), mode="constant")
    return out


def shear(x, rng):
    """A horizontal shear of 0.3 to 0.6, either way."""
    s = rng.uniform(0.3, 0.6, len(x)) * _signs(rng, len(x))
    return _affine(x, np.array([[[1.0, 0.0], [si, 1.0]] for si in s]))


def scale(x, rng):
    """Shrunk to 40-60% of its size, about the centre."""
    f = 1.0 / rng.uniform(0.4, 0.6, len(x))
    return _affine(x, np.array([np.eye(2) * fi for fi in f]))


def rotate(x, rng):
    """Rotated by 30 to 60 degrees, either way."""
    a = np.deg2rad(rng.uniform(30, 60, len(x)) * _signs(rng, len(x)))
    return _affine(x, np.array([[[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]] for t in a]))


def brightness(x, rng):
    """The whole frame lifted by 0.4 (the background turns grey)."""
    return x + 0.4


def translate(x, rng):
    """Shifted 4 to 7 pixels in a random direction (part of the digit may leave the frame)."""
    n = len(x)
    distance, angle = rng.uniform(4, 7, n), rng.uniform(0, 2 * np.pi, n)
    offsets = np.stack([distance * np.sin(angle), distance * np.cos(angle)], axis=1)
    return _affine(x, np.repeat(np.eye(2)[None], n, axis=0), -offsets)


def stripe(x, rng):
    """A vertical band, 4 to 6 pixels wide, with its pixels inverted."""
    out = x.copy()
    for i in range(len(x)):
        width = rng.integers(4, 7)
        left = rng.integers(4, SIZE - 4 - width)
        out[i, :, left:left + width] = 1.0 - x[i, :, left:left + width]
    return out


def fog(x, rng):
    """Smooth low-frequency haze (random noise upsampled from 7x7), added and renormalised."""
    coarse = rng.random((len(x), 7, 7))
    haze = ndimage.zoom(coarse, (1, SIZE / 7, SIZE / 7), order=3)
    return (x + 0.6 * haze) / 1.3


def spatter(x, rng):
    """Blotches of mud: thresholded blurred noise, painted mid-grey over the digit."""
    blobs = ndimage.gaussian_filter(rng.random(x.shape), sigma=(0, 1.5, 1.5))
    mud = blobs > np.quantile(blobs, 0.93, axis=(1, 2), keepdims=True)
    return np.where(mud, 0.6, x)


def _line(rng: np.random.Generator, points: int) -> tuple[np.ndarray, np.ndarray]:
    """A straight segment between two random points near the frame's edges."""
    (r0, r1), (c0, c1) = rng.uniform(3, SIZE - 3, (2, 2))
    t = np.linspace(0.0, 1.0, points)
    return np.rint(r0 + t * (r1 - r0)).astype(int), np.rint(c0 + t * (c1 - c0)).astype(int)


def dotted_line(x, rng):
    """A white dotted line (every third pixel) across the frame."""
    out = x.copy()
    for i in range(len(x)):
        r, c = _line(rng, 40)
        out[i, r[::3], c[::3]] = 1.0
    return out


def zigzag(x, rng):
    """A white zigzag: a line of 3 to 5 segments turning at random points."""
    out = x.copy()
    for i in range(len(x)):
        corners = rng.uniform(2, SIZE - 2, (rng.integers(4, 7), 2))
        for (r0, c0), (r1, c1) in zip(corners[:-1], corners[1:]):
            t = np.linspace(0.0, 1.0, 30)
            out[i, np.rint(r0 + t * (r1 - r0)).astype(int),
                np.rint(c0 + t * (c1 - c0)).astype(int)] = 1.0
    return out


def canny_edges(x, rng):
    """Only the edges remain: Sobel gradient magnitude after a light blur, thresholded (the
    idea of Canny's detector without its thinning and hysteresis steps)."""
    smooth = ndimage.gaussian_filter(x, sigma=(0, 1.0, 1.0))
    magnitude = np.hypot(ndimage.sobel(smooth, axis=1), ndimage.sobel(smooth, axis=2))
    peak = magnitude.max(axis=(1, 2), keepdims=True).clip(1e-6)
    return (magnitude > 0.35 * peak).astype(np.float32)


#: name -> function; the order of MNIST-C's paper
CORRUPTIONS: dict[str, Callable] = {f.__name__: f for f in (
    shot_noise, impulse_noise, glass_blur, motion_blur, shear, scale, rotate, brightness,
    translate, stripe, fog, spatter, dotted_line, zigzag, canny_edges)}
KINDS = tuple(CORRUPTIONS)


def corrupt(images: np.ndarray, kind: str, seed: int = 0) -> np.ndarray:
    """``images`` (uint8, (N, 28, 28)) corrupted by ``kind``; the same for the same seed."""
    if kind not in CORRUPTIONS:
        raise ValueError(f"unknown corruption {kind!r}; choose one of {', '.join(KINDS)}")
    x = _check(images)
    rng = np.random.default_rng([seed, KINDS.index(kind)])
    return _to_uint8(CORRUPTIONS[kind](x, rng))
