"""Split-MNIST's task splitter, the accuracy-matrix metrics, the EWC penalty, the replay
buffer and the Fisher estimate."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_course import continual

LABELS = np.repeat(np.arange(10), 7)
IMAGES = np.arange(len(LABELS))[:, None] * np.ones((1, 3))  # image i is "i", to trace it


def test_split_tasks_keeps_each_tasks_digits_in_order():
    tasks = continual.split_tasks(IMAGES, LABELS)
    assert [t.classes for t in tasks] == list(continual.TASKS)
    for t in tasks:
        assert set(np.unique(t.y)) == set(t.classes) and len(t.y) == 14
        assert np.array_equal(LABELS[t.x[:, 0].astype(int)], t.y)  # images stay with labels
    assert sum(len(t.y) for t in tasks) == len(LABELS)


@pytest.mark.parametrize("tasks,message", [
    (((0, 1), (1, 2)), "two tasks"),
    (((0, 1), (10, 11)), "no image"),
])
def test_split_tasks_refuses_overlaps_and_missing_digits(tasks, message):
    with pytest.raises(ValueError, match=message):
        continual.split_tasks(IMAGES, LABELS, tasks)
    with pytest.raises(ValueError, match="labels"):
        continual.split_tasks(IMAGES[:5], LABELS)


def test_average_accuracy_and_forgetting_on_a_hand_made_matrix():
    R = np.array([[0.8, 0.0, 0.0, 0.0],
                  [0.9, 0.8, 0.0, 0.0],
                  [0.5, 0.6, 0.7, 0.0],
                  [0.3, 0.4, 0.5, 0.9]])
    assert continual.average_accuracy(R) == pytest.approx(0.525)
    # best before the end minus final, tasks 1-3: 0.9-0.3, 0.8-0.4, 0.7-0.5
    assert continual.forgetting(R) == pytest.approx(0.4)
    assert continual.forgetting(np.eye(1)) == 0.0
    assert continual.forgetting(np.tril(np.ones((5, 5)))) == 0.0  # nothing lost
    with pytest.raises(ValueError, match="square"):
        continual.forgetting(np.ones((2, 3)))


def test_ewc_penalty_is_zero_at_the_anchors_and_grows_quadratically():
    rng = np.random.default_rng(0)
    anchors = [rng.normal(size=(4, 3)).astype(np.float32), rng.normal(size=3).astype(np.float32)]
    fisher = [rng.random((4, 3)).astype(np.float32), rng.random(3).astype(np.float32)]
    step = [rng.normal(size=a.shape).astype(np.float32) for a in anchors]

    def penalty(scale, lam=10.0):
        weights = [a + scale * d for a, d in zip(anchors, step)]
        return float(continual.ewc_penalty(weights, anchors, fisher, lam))

    assert penalty(0.0) == 0.0
    assert penalty(2.0) == pytest.approx(4 * penalty(1.0), rel=1e-5)
    assert penalty(1.0, lam=20.0) == pytest.approx(2 * penalty(1.0), rel=1e-5)
    expected = 10.0 / 2 * sum(float((f * d**2).sum()) for f, d in zip(fisher, step))
    assert penalty(1.0) == pytest.approx(expected, rel=1e-5)
    # a weight with zero Fisher information is free to move
    free = [np.zeros_like(f) for f in fisher]
    assert float(continual.ewc_penalty([a + d for a, d in zip(anchors, step)], anchors, free,
                                       10.0)) == 0.0


def test_replay_buffer_keeps_at_most_per_class_of_every_digit():
    rng = np.random.default_rng(0)
    buffer = continual.ReplayBuffer(per_class=5)
    with pytest.raises(ValueError, match="empty"):
        buffer.sample(3, rng)
    long_tail = np.array([0] * 50 + [1] * 3)
    buffer.add(np.arange(len(long_tail))[:, None], long_tail, rng)
    assert buffer.counts() == {0: 5, 1: 3}
    buffer.add(np.arange(100, 120)[:, None], np.repeat([2, 3], 10), rng)
    buffer.add(np.arange(200, 210)[:, None], np.full(10, 1), rng)  # more 1s arrive
    assert buffer.counts() == {0: 5, 1: 5, 2: 5, 3: 5}
    assert len(buffer) == 20
    x, y = buffer.sample(400, rng)
    assert x.shape == (400, 1) and set(np.unique(y)) == {0, 1, 2, 3}
    # every stored image is returned with its own label
    assert np.all(y[x[:, 0] < 50] == 0) and np.all(y[(x[:, 0] >= 100) & (x[:, 0] < 110)] == 2)
    with pytest.raises(ValueError, match="per_class"):
        continual.ReplayBuffer(0)


def test_replay_buffer_choice_is_random_and_seeded():
    def stored(seed):
        buffer = continual.ReplayBuffer(per_class=4)
        buffer.add(np.arange(40)[:, None], np.zeros(40, int), np.random.default_rng(seed))
        return buffer.x[0][:, 0].tolist()

    assert stored(0) == stored(0)
    assert stored(0) != stored(1)
    assert stored(0) != [0, 1, 2, 3]


def test_masks_select_the_tasks_outputs():
    assert continual.output_mask(None, 2).all() and continual.output_mask(None, 2).shape == (2, 10)
    assert np.flatnonzero(continual.output_mask((4, 5))[0]).tolist() == [4, 5]
    masks = continual.task_of(np.array([0, 5, 9]))
    assert [np.flatnonzero(m).tolist() for m in masks] == [[0, 1], [4, 5], [8, 9]]


def test_masked_accuracy_and_fisher_on_a_tiny_model():
    import keras

    keras.utils.set_random_seed(0)
    model = continual.mlp(hidden=(8,))
    x = np.random.default_rng(0).random((40, 28, 28, 1)).astype(np.float32)
    logits = model(x).numpy()
    y = logits.argmax(axis=1)
    assert continual.accuracy(model, x, y) == 1.0
    # masked to two outputs, the prediction is the larger of those two
    pair = (0, 1)
    expected = np.where(logits[:, 0] >= logits[:, 1], 0, 1)
    assert continual.accuracy(model, x, expected, pair) == 1.0
    fisher = continual.fisher_diagonal(model, x, pair, n_samples=10, seed=0)
    assert [f.shape for f in fisher] == [tuple(v.shape) for v in model.trainable_variables]
    assert all((f >= 0).all() for f in fisher)
    # masked outputs get no gradient: the last layer's columns for digits 2-9 stay zero
    assert np.all(fisher[-2][:, 2:] == 0) and np.any(fisher[-2][:, :2] > 0)
    again = continual.fisher_diagonal(model, x, pair, n_samples=10, seed=0)
    assert all(np.allclose(a, b) for a, b in zip(fisher, again))


def test_fisher_matches_one_image_at_a_time():
    """The batched per-image gradients equal the textbook loop: one image, one label drawn
    from the model's own prediction, its squared gradient, averaged."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(1)
    model = continual.mlp(hidden=(6,))
    x = np.random.default_rng(1).random((30, 28, 28, 1)).astype(np.float32)
    classes = (4, 5)
    fisher = continual.fisher_diagonal(model, x, classes, n_samples=12, seed=3, chunk=5)
    rng = np.random.default_rng(3)  # the same draws as fisher_diagonal makes
    pick = rng.choice(len(x), size=12, replace=False)
    u = rng.random(12)
    mask = continual.output_mask(classes)
    expected = [np.zeros(v.shape) for v in model.trainable_variables]
    for i, ui in zip(pick, u):
        with tf.GradientTape() as tape:
            logp = tf.nn.log_softmax(continual.masked_logits(model(x[i][None]), mask))[0]
            label = min(int((np.cumsum(np.exp(logp.numpy())) < ui).sum()), 5)
            chosen = logp[label]
        assert label in classes
        for e, g in zip(expected, tape.gradient(chosen, model.trainable_variables)):
            e += g.numpy() ** 2 / len(pick)
    assert all(np.allclose(f, e, rtol=1e-4, atol=1e-7) for f, e in zip(fisher, expected))
