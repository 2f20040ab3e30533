"""The simulated pen stream and the fusion helpers of chapter 07c."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_course import multimodal


def stroke_image(kind: str) -> np.ndarray:
    """Hand-drawn test digits: a vertical bar (a 1), an L (two strokes' worth of turn), a
    plus sign made of two separate strokes."""
    image = np.zeros((28, 28), np.uint8)
    if kind == "bar":
        image[4:24, 13:16] = 255
    elif kind == "two bars":
        image[4:24, 6:9] = 255
        image[4:24, 19:22] = 255
    elif kind == "thick and thin":
        image[4:14, 12:17] = 255  # wide upper half
        image[14:24, 14:15] = 255  # thin lower half
    return image


def test_trace_has_the_promised_shape_and_range():
    t = multimodal.trace(stroke_image("bar"), n_points=32)
    assert t.shape == (32, 5) and t.dtype == np.float32
    assert t.min() >= 0 and t.max() <= 1
    # a vertical bar: x stays near the middle, y runs from top to bottom
    assert np.allclose(t[:, 0], 14 / 27, atol=0.05)
    assert t[0, 1] < 0.25 and t[-1, 1] > 0.75 and np.all(np.diff(t[:, 1]) >= -1e-6)
    assert t[:, 3].all()  # one stroke: the pen never lifts
    assert (t[:, multimodal.PRESENT] == 1).all()  # a noiseless trace loses no sample


def test_two_strokes_lift_the_pen_once():
    t = multimodal.trace(stroke_image("two bars"), n_points=128)
    up = t[:, 3] == 0
    assert up.any() and not up.all()
    assert np.all(t[up, 2] == 0)  # no pressure in the air
    # the pen-up points form one run: one jump between the two bars
    assert np.count_nonzero(np.diff(up.astype(int)) == 1) == 1


def test_pressure_follows_stroke_width():
    t = multimodal.trace(stroke_image("thick and thin"), n_points=64)
    upper, lower = t[t[:, 1] < 0.4, 2], t[t[:, 1] > 0.6, 2]
    assert upper.mean() > 1.5 * lower.mean()


def test_simulate_is_deterministic_for_a_seed_and_noisy_across_seeds():
    images = np.stack([stroke_image("bar"), stroke_image("two bars")])
    a = multimodal.simulate(images, seed=3, n_points=16, progress=False)
    b = multimodal.simulate(images, seed=3, n_points=16, progress=False)
    c = multimodal.simulate(images, seed=4, n_points=16, progress=False)
    assert a.shape == (2, 16, 5) and np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= 0 and a.max() <= 1
    clean = multimodal.simulate(images, seed=3, n_points=16, noise=0, dropout=0, progress=False)
    assert np.array_equal(clean[0], multimodal.trace(images[0], 16))


def test_sensor_dropout_and_noise():
    rng = np.random.default_rng(0)
    clean = np.full((200, 50, 5), 0.5, np.float32)
    clean[..., 3:] = 1  # pen down, every sample present
    out = multimodal.sensor(clean, noise=0.0, dropout=0.25, rng=rng)
    lost = out[..., multimodal.PRESENT] == 0
    assert 0.2 < lost.mean() < 0.3
    assert (out[lost] == 0).all()  # a lost sample reads all zeros, its flag included
    assert np.all(out[~lost] == clean[~lost])
    assert np.all(clean == np.where(np.arange(5) >= 3, 1, 0.5))  # the input is untouched
    noisy = multimodal.sensor(clean, noise=0.1, dropout=0.0, rng=rng)
    assert 0.08 < np.std(noisy[..., 0] - 0.5) < 0.12
    again = multimodal.sensor(out, noise=0.1, dropout=0.0, rng=rng)
    assert (again[lost] == 0).all()  # noise does not bring an absent sample back
    with pytest.raises(ValueError, match="dropout"):
        multimodal.sensor(clean, noise=0.1, dropout=1.5, rng=rng)
    with pytest.raises(ValueError, match="channels"):
        multimodal.sensor(clean[..., :4], noise=0.1, dropout=0.0, rng=rng)


@pytest.mark.parametrize("image", [np.zeros((28, 28)), np.full((28, 28, 1), 40, np.uint8)])
def test_a_blank_image_is_refused_with_a_clear_message(image):
    with pytest.raises(ValueError, match="blank image"):
        multimodal.trace(image)


def test_wrong_shapes_are_refused():
    with pytest.raises(ValueError, match="28, 28"):
        multimodal.trace(np.ones((3, 28, 28)))
    with pytest.raises(ValueError, match="N, 28, 28"):
        multimodal.simulate(np.ones((28, 28)), seed=0, progress=False)


def test_late_fusion_and_modality_dropout():
    p = np.eye(10)[:3]
    q = np.full((3, 10), 0.1)
    assert np.allclose(multimodal.late_fusion(p, q, 1.0), p)
    assert np.allclose(multimodal.late_fusion(p, q, 0.25).sum(axis=1), 1)
    with pytest.raises(ValueError, match="weight"):
        multimodal.late_fusion(p, q, 1.2)
    with pytest.raises(ValueError, match="shape"):
        multimodal.late_fusion(p, q[:2], 0.5)
    images, pens = np.ones((1000, 2, 2)), np.ones((1000, 3, 4))
    a, b = multimodal.modality_dropout(images, pens, 0.4, np.random.default_rng(0))
    no_image, no_pen = (a == 0).all(axis=(1, 2)), (b == 0).all(axis=(1, 2))
    assert not (no_image & no_pen).any()
    assert 0.35 < (no_image | no_pen).mean() < 0.45
    assert images.all() and pens.all()
