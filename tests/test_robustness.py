"""The cluttered-background generator: deterministic, digit kept on top, range and labels kept."""

import numpy as np
import pytest

from mnist_course import data, robustness


@pytest.fixture(scope="module")
def sample():
    mnist = data.load_mnist()
    return mnist.x_test[:200], mnist.y_test[:200]


@pytest.mark.parametrize("kind", robustness.CLUTTER_KINDS)
def test_deterministic_for_a_seed(sample, kind):
    images, _ = sample
    a = robustness.cluttered(images, kind, seed=3)
    assert np.array_equal(a, robustness.cluttered(images, kind, seed=3))
    assert not np.array_equal(a, robustness.cluttered(images, kind, seed=4))


@pytest.mark.parametrize("kind", robustness.CLUTTER_KINDS)
def test_digit_on_top_and_range_kept(sample, kind):
    images, _ = sample
    out = robustness.cluttered(images, kind, seed=0, strength=0.5)
    assert out.dtype == np.uint8 and out.shape == images.shape
    assert np.all(out >= images)                        # strokes never darkened or erased
    background = images == 0
    assert out[background].max() <= 128                # clutter bounded by strength
    assert out[background].mean() > 10                  # and really there
    assert np.array_equal(images, data.load_mnist().x_test[:200])  # input untouched


def test_cluttered_set_keeps_labels_in_order(sample):
    images, labels = sample
    x, y = robustness.cluttered_set(images, labels, seed=1)
    assert x.shape == (400, 28, 28) and np.array_equal(y, np.concatenate([labels, labels]))
    assert np.array_equal(x[:200], robustness.cluttered(images, "noise", seed=2))
    assert np.array_equal(x[200:], robustness.cluttered(images, "digits", seed=3))


def test_bad_input_is_explained(sample):
    images, labels = sample
    with pytest.raises(ValueError, match="uint8 images of shape"):
        robustness.cluttered(images.astype(np.float32))
    with pytest.raises(ValueError, match="unknown clutter kind"):
        robustness.cluttered(images, "fog")
    with pytest.raises(ValueError, match="strength"):
        robustness.cluttered(images, strength=0)
    with pytest.raises(ValueError, match="200 images but 10 labels"):
        robustness.cluttered_set(images, labels[:10])


# -- tilted digits -------------------------------------------------------------------------

def test_rotation_is_exact_for_quarter_turns_and_identity_at_zero(sample):
    images, _ = sample
    assert np.array_equal(robustness.rotated(images, 0), images)
    quarter = robustness.rotated(images, 90)
    assert np.array_equal(quarter, np.rot90(images, 1, axes=(1, 2)))  # counter-clockwise
    assert quarter.dtype == np.uint8


def test_tilted_set_is_deterministic_and_keeps_range(sample):
    images, _ = sample
    a = robustness.tilted_set(images, (0, 15, 45), seed=1)
    b = robustness.tilted_set(images, (0, 15, 45), seed=1)
    c = robustness.tilted_set(images, (0, 15, 45), seed=2)
    assert list(a) == [0, 15, 45]
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a[45], c[45])          # other directions for another seed
    assert np.array_equal(a[0], images)
    for k in (15, 45):
        assert a[k].dtype == np.uint8 and a[k].shape == images.shape
        assert not np.array_equal(a[k], images)
        # ink is kept, give or take interpolation at the edges
        assert abs(int(a[k].sum()) - int(images.sum())) < 0.1 * int(images.sum())


def test_gaussian_noise_range_and_seed():
    x = np.full((4, 28, 28, 1), 0.5, np.float32)
    a = robustness.gaussian_noise(x, 0.3, seed=0)
    assert a.min() >= 0 and a.max() <= 1 and a.dtype == np.float32
    assert np.array_equal(a, robustness.gaussian_noise(x, 0.3, seed=0))
    assert abs(float(a.std()) - 0.3) < 0.05


# -- attacks -------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_model():
    from mnist_course import models, training
    from mnist_course.course.profile import seed_everything

    seed_everything(0)
    split = data.load_split()
    model = models.lenet5()
    training.fit(model, data.to_model_input(split.x_train[:3000]), split.y_train[:3000],
                 epochs=2, progress=False)
    return model, data.to_model_input(split.x_test[:256]), split.y_test[:256]


def mean_loss(model, x, y):
    import keras

    logits = model.predict(x, verbose=0)
    return float(np.mean(keras.losses.sparse_categorical_crossentropy(y, logits,
                                                                       from_logits=True)))


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_attack_bounded_in_range_and_raises_loss(trained_model, attack):
    model, x, y = trained_model
    eps = 0.1
    adv = getattr(robustness, attack)(model, x, y, eps)
    assert adv.shape == x.shape and adv.dtype == np.float32
    assert np.abs(adv - x).max() <= eps + 1e-6
    assert adv.min() >= 0 and adv.max() <= 1
    assert mean_loss(model, adv, y) > mean_loss(model, x, y) + 0.5


def test_fgsm_is_deterministic(trained_model):
    model, x, y = trained_model
    assert np.array_equal(robustness.fgsm(model, x, y, 0.1), robustness.fgsm(model, x, y, 0.1))


def test_pgd_is_deterministic_for_a_seed_and_stronger_than_fgsm(trained_model):
    model, x, y = trained_model
    a = robustness.pgd(model, x, y, 0.1, steps=5, seed=3)
    assert np.array_equal(a, robustness.pgd(model, x, y, 0.1, steps=5, seed=3))
    assert not np.array_equal(a, robustness.pgd(model, x, y, 0.1, steps=5, seed=4))
    fgsm = robustness.fgsm(model, x, y, 0.1)
    assert mean_loss(model, a, y) >= mean_loss(model, fgsm, y) - 0.1


def test_adversarial_fit_trains(trained_model):
    from mnist_course import models
    from mnist_course.course.profile import seed_everything

    _, x, y = trained_model
    seed_everything(0)
    model = models.lenet5(name="adv")
    before = mean_loss(model, x, y)
    history = robustness.adversarial_fit(model, x, y, epochs=2, progress=False)
    assert len(history["loss"]) == 2 and history["seconds"] > 0
    assert mean_loss(model, x, y) < before
