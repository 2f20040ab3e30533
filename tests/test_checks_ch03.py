"""Chapter 03's checkers for the L2 fast gradient method and the attack evaluation backed
by a random control: each accepts a right answer and names what is wrong in a wrong one."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_course.course.checks import ch03


def _gradient(model, images, labels):
    import tensorflow as tf

    x = tf.convert_to_tensor(images)
    with tf.GradientTape() as tape:
        tape.watch(x)
        loss = tf.keras.losses.sparse_categorical_crossentropy(
            labels, model(x, training=False), from_logits=True)
    return x, tape.gradient(loss, x)


def fgm_l2(model, images, labels, epsilon):
    import tensorflow as tf

    x, g = _gradient(model, images, labels)
    norm = tf.sqrt(tf.reduce_sum(g ** 2, axis=[1, 2, 3], keepdims=True))
    return tf.clip_by_value(x + epsilon * g / norm, 0.0, 1.0).numpy()


def sign_step(model, images, labels, epsilon):
    """FGSM copied from the chapter: the L-infinity step, not the L2 one."""
    import tensorflow as tf

    x, g = _gradient(model, images, labels)
    return tf.clip_by_value(x + epsilon * tf.sign(g), 0.0, 1.0).numpy()


def batch_norm(model, images, labels, epsilon):
    """Normalised by the whole batch's norm instead of each image's."""
    import tensorflow as tf

    x, g = _gradient(model, images, labels)
    return tf.clip_by_value(x + epsilon * g / tf.norm(g), 0.0, 1.0).numpy()


def test_fgm_l2_accepts_the_l2_step():
    assert ch03.strict_check.fgm_l2(fgm_l2).passed


def test_fgm_l2_names_the_wrong_norm():
    assert "L2 norm instead" in " ".join(ch03.check.fgm_l2(sign_step).problems)
    assert "its own norm" in " ".join(ch03.check.fgm_l2(batch_norm).problems)


def test_fgm_l2_refuses_the_package():
    from mnist_course import robustness

    result = ch03.check.fgm_l2(lambda m, x, y, eps: robustness.fgsm(m, x, y, eps))
    assert "switched off" in " ".join(result.problems)
    with pytest.raises(AssertionError, match="fgm_l2"):
        ch03.strict_check.fgm_l2(lambda m, x, y, eps: x)


def _score(model, images, labels):
    return float(np.mean(model.predict(images, verbose=0).argmax(-1) == labels))


def pgd_attack(model, x, y):
    from mnist_course import robustness

    perturbed = robustness.pgd(model, x, y, epsilon=ch03.ATTACK_EPSILON, steps=5)
    return _score(model, perturbed, y), perturbed


def random_control(model, x, y):
    signs = np.random.default_rng(0).choice([-1.0, 1.0], size=x.shape)
    perturbed = np.clip(x + ch03.ATTACK_EPSILON * signs, 0, 1).astype(np.float32)
    return _score(model, perturbed, y), perturbed


def gradient_control(model, x, y):
    """FGSM passed off as the random control."""
    perturbed = sign_step(model, x, y, ch03.ATTACK_EPSILON)
    return _score(model, perturbed, y), perturbed


def test_attack_evaluation_with_its_control():
    assert ch03.strict_check.attack_evaluation(pgd_attack, random_control, True).passed
    wrong = ch03.check.attack_evaluation(pgd_attack, random_control, False)
    assert "GRADIENT_DOES_IT is False" in " ".join(wrong.problems)
    unset = ch03.check.attack_evaluation(pgd_attack, random_control, None)
    assert "True or False" in " ".join(unset.problems)
    missing = ch03.check.attack_evaluation(pgd_attack)
    assert "random_and_score" in " ".join(missing.problems)


def test_attack_evaluation_refuses_a_gradient_control():
    result = ch03.check.attack_evaluation(pgd_attack, gradient_control, False)
    assert "the way the gradient points" in " ".join(result.problems)
