"""A second, *simulated* sensor stream for MNIST digits, and the small pieces of fusion.

MNIST has no pen data, and no public digit set with pen pressure ships with this course. So
the pen stream here is **simulated** from each image, as a documented, seeded function:

1. the digit's ink (pixels at or above ``threshold``) is thinned to a one-pixel skeleton
   (``skimage.morphology.skeletonize``): the path a pen tip would have followed;
2. the skeleton is walked as strokes: from the top-most stroke end, always to the
   neighbouring pixel that turns least, and when a stroke ends the pen lifts and travels to
   the nearest point not yet drawn (a pen-up move);
3. each point's *pressure* follows the stroke's thickness there (the distance from the
   skeleton to the edge of the ink, ``scipy.ndimage.distance_transform_edt``): a pen pressed
   harder leaves a wider line;
4. the path is resampled to ``n_points`` points equally spaced along its length: ``(x, y,
   pressure, pen_down, present)``, each in [0, 1]; ``present`` is 1 for every sample of
   the noiseless trace;
5. a sensor adds Gaussian noise to position and pressure and drops samples: a dropped
   sample reads all zeros, its ``present`` flag included, so a model (and a plot) can tell
   a lost sample from a pen at the top-left corner. A stream that never arrived is all
   zeros, the same flag saying "absent" everywhere.

What this can teach: how to build, train and test fusion models, and how they behave when
one stream is missing, noisy or cut short. What it cannot: the stream is computed from the
clean image, so it holds no information about the digit's identity that the image lacks,
and nothing about real writers' order of strokes, speed or pressure. Any gain from fusion
here comes from the two streams failing *independently* (a corrupted image with an intact
pen stream, or the reverse), not from new information.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

CHANNELS = ("x", "y", "pressure", "pen_down", "present")
PRESENT = CHANNELS.index("present")
_NEIGHBOURS = [(dr, dc) for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]
#: stroke half-width (pixels) that reads as full pressure
FULL_PRESSURE_WIDTH = 3.0


def _as_image(image) -> np.ndarray:
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        image = image[..., 0]
    if image.ndim != 2:
        raise ValueError(f"expected one image of shape (28, 28) or (28, 28, 1), got "
                         f"{image.shape}")
    image = image.astype(np.float32)
    return image / 255.0 if image.max() > 1.0 else image


def _walk(points: set[tuple[int, int]]) -> list[tuple[int, int, bool]]:
    """Order skeleton pixels into strokes: (row, col, pen_down on the way to this point)."""
    def neighbours(p):
        return [(p[0] + dr, p[1] + dc) for dr, dc in _NEIGHBOURS
                if (p[0] + dr, p[1] + dc) in points]

    left = set(points)
    path: list[tuple[int, int, bool]] = []
    while left:
        ends = [p for p in left if len([q for q in neighbours(p) if q in left]) <= 1]
        candidates = ends or list(left)
        if path:  # the pen lifts and moves to the nearest undrawn point (a stroke end first)
            r, c, _ = path[-1]
            current = min(candidates, key=lambda p: ((p[0] - r) ** 2 + (p[1] - c) ** 2, p))
        else:  # writers start at the top
            current = min(candidates)
        path.append((*current, not path))  # reached in the air, except the very first
        left.discard(current)
        direction = (0, 0)
        while True:
            options = [q for q in neighbours(current) if q in left]
            if not options:
                break
            nxt = min(options, key=lambda q: (-((q[0] - current[0]) * direction[0]
                                                 + (q[1] - current[1]) * direction[1]), q))
            direction = (nxt[0] - current[0], nxt[1] - current[1])
            path.append((*nxt, True))
            left.discard(nxt)
            current = nxt
    return path


def trace(image, n_points: int = 64, threshold: float = 0.5) -> np.ndarray:
    """The noiseless pen trajectory of one digit: ``(n_points, 4)`` float32, columns
    :data:`CHANNELS`, every value in [0, 1]. Raises ``ValueError`` for a blank image."""
    from skimage.morphology import skeletonize

    image = _as_image(image)
    ink = image >= threshold
    if not ink.any():
        raise ValueError(f"blank image: no pixel reaches the ink threshold {threshold} "
                         f"(largest value {image.max():.3f}), so there is no stroke to trace")
    skeleton = skeletonize(ink)
    if not skeleton.any():
        skeleton = ink
    width = ndimage.distance_transform_edt(ink)
    path = _walk({(int(r), int(c)) for r, c in np.argwhere(skeleton)})
    rows = np.array([p[0] for p in path], float)
    cols = np.array([p[1] for p in path], float)
    down = np.array([p[2] for p in path], bool)
    down[0] = True
    pressure = np.clip(width[rows.astype(int), cols.astype(int)] / FULL_PRESSURE_WIDTH, 0, 1)
    # resample equally along the path's length, pen-up moves included
    steps = np.hypot(np.diff(rows), np.diff(cols))
    along = np.concatenate([[0.0], np.cumsum(steps)])
    if along[-1] == 0:  # a single dot
        along = np.linspace(0, 1, len(rows))
    at = np.linspace(0, along[-1], n_points)
    segment = np.clip(np.searchsorted(along, at, side="right"), 1, len(rows) - 1)
    pen = down[segment]  # was the pen down on the way into this segment's end point?
    out = np.stack([np.interp(at, along, cols) / (image.shape[1] - 1),
                    np.interp(at, along, rows) / (image.shape[0] - 1),
                    np.interp(at, along, pressure) * pen,
                    pen.astype(float), np.ones(n_points)], axis=1)
    return out.astype(np.float32)


def sensor(trajectories: np.ndarray, noise: float, dropout: float,
           rng: np.random.Generator) -> np.ndarray:
    """What a pen sensor reports: positions and pressure plus Gaussian noise (std ``noise``,
    clipped to [0, 1]), and a ``dropout`` share of samples lost: all channels 0, the
    ``present`` flag too. Samples already absent stay all zeros. A copy; the input is not
    changed."""
    if not 0 <= dropout <= 1 or noise < 0:
        raise ValueError(f"need noise >= 0 and 0 <= dropout <= 1, got {noise} and {dropout}")
    out = np.array(trajectories, dtype=np.float32, copy=True)
    if out.shape[-1] != len(CHANNELS):
        raise ValueError(f"expected the last axis to hold the {len(CHANNELS)} channels "
                         f"{CHANNELS}, got shape {out.shape}")
    out[..., :3] = np.clip(out[..., :3] + rng.normal(0, noise, out[..., :3].shape), 0, 1)
    out[..., 2] *= out[..., 3]  # no pressure while the pen is up
    out[rng.random(out.shape[:-1]) < dropout] = 0.0
    out *= out[..., PRESENT:] > 0  # an absent sample reads all zeros, noise or not
    return out


def simulate(images: np.ndarray, seed: int, n_points: int = 64, noise: float = 0.01,
             dropout: float = 0.02, progress: bool = True) -> np.ndarray:
    """The simulated pen stream of every image, ``(N, n_points, 4)``: :func:`trace`, then
    :func:`sensor` with a generator seeded by ``seed``. Deterministic for a seed."""
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim != 3:
        raise ValueError(f"expected images (N, 28, 28) or (N, 28, 28, 1), got {images.shape}")
    iterator = range(len(images))
    if progress:
        from tqdm import tqdm

        iterator = tqdm(iterator, desc="pen traces", unit="img", mininterval=1.0)
    clean = np.stack([trace(images[i], n_points) for i in iterator])
    return sensor(clean, noise, dropout, np.random.default_rng(seed))


# -- fusion helpers ----------------------------------------------------------------------------

def late_fusion(p_image: np.ndarray, p_sequence: np.ndarray, weight: float = 0.5) -> np.ndarray:
    """``weight * p_image + (1 - weight) * p_sequence``: a weighted mean of two models' class
    probabilities (rows still sum to 1)."""
    if not 0 <= weight <= 1:
        raise ValueError(f"weight must be in [0, 1], got {weight}")
    p_image, p_sequence = np.asarray(p_image), np.asarray(p_sequence)
    if p_image.shape != p_sequence.shape:
        raise ValueError(f"the two heads' probabilities differ in shape: {p_image.shape} and "
                         f"{p_sequence.shape}")
    return weight * p_image + (1 - weight) * p_sequence


def modality_dropout(images: np.ndarray, sequences: np.ndarray, rate: float,
                     rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Copies of both inputs in which a ``rate`` share of the examples lose one modality
    (set to zeros): half of them the image, half the pen stream, never both."""
    if not 0 <= rate <= 1:
        raise ValueError(f"rate must be in [0, 1], got {rate}")
    if len(images) != len(sequences):
        raise ValueError(f"{len(images)} images but {len(sequences)} pen streams")
    images, sequences = np.array(images, copy=True), np.array(sequences, copy=True)
    dropped = rng.random(len(images)) < rate
    which = rng.random(len(images)) < 0.5
    images[dropped & which] = 0
    sequences[dropped & ~which] = 0
    return images, sequences
