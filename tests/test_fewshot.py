"""The few-shot episode sampler, the prototype computation, and the UCI digits converter."""

from __future__ import annotations

import numpy as np
import pytest

from mnist_course import fewshot, uci

LABELS = np.repeat(np.arange(8), 30)  # 8 classes, 30 images each


@pytest.mark.parametrize("n_way,k_shot,n_query", [(5, 1, 15), (5, 10, 15), (8, 5, 5), (2, 29, 1)])
def test_episode_has_the_asked_classes_and_counts(n_way, k_shot, n_query):
    ep = fewshot.sample_episode(LABELS, n_way, k_shot, n_query, np.random.default_rng(0))
    assert len(set(ep.classes.tolist())) == n_way
    assert np.array_equal(np.bincount(ep.support_labels), [k_shot] * n_way)
    assert np.array_equal(np.bincount(ep.query_labels), [n_query] * n_way)
    # every index's pool label is the class of its way
    assert np.array_equal(LABELS[ep.support], ep.classes[ep.support_labels])
    assert np.array_equal(LABELS[ep.query], ep.classes[ep.query_labels])


def test_support_and_query_never_overlap():
    for ep in fewshot.episodes(LABELS, 200, 5, 10, 15, seed=3):
        assert len(np.intersect1d(ep.support, ep.query)) == 0
        assert len(np.unique(np.concatenate([ep.support, ep.query]))) == 5 * 25


def test_episodes_are_determined_by_the_seed():
    a = fewshot.episodes(LABELS, 5, 5, 5, 5, seed=1)
    b = fewshot.episodes(LABELS, 5, 5, 5, 5, seed=1)
    c = fewshot.episodes(LABELS, 5, 5, 5, 5, seed=2)
    assert all(np.array_equal(x.support, y.support) and np.array_equal(x.query, y.query)
               for x, y in zip(a, b))
    assert not all(np.array_equal(x.support, y.support) for x, y in zip(a, c))


@pytest.mark.parametrize("n_way,k_shot,n_query,message", [
    (9, 1, 1, "the pool has 8 classes"),
    (0, 1, 1, "n_way=0"),
    (5, 20, 11, "only 30 images"),
    (5, 0, 5, "at least 1"),
    (5, 5, 0, "at least 1"),
])
def test_impossible_requests_are_refused_clearly(n_way, k_shot, n_query, message):
    with pytest.raises(ValueError, match=message):
        fewshot.sample_episode(LABELS, n_way, k_shot, n_query, np.random.default_rng(0))


def test_prototypes_and_logits_on_a_hand_made_episode():
    support = np.array([[0.0, 0.0], [2.0, 0.0], [0.0, 6.0], [0.0, 0.0]])
    labels = np.array([0, 0, 1, 1])  # means (1, 0) and (0, 3)
    protos = fewshot.prototypes(support, labels, 2)
    assert np.array_equal(protos, [[1.0, 0.0], [0.0, 3.0]])
    logits = fewshot.squared_euclidean_logits(np.array([[1.0, 0.0], [1.0, 3.0]]), protos)
    assert np.allclose(logits, [[0.0, -10.0], [-9.0, -1.0]])
    predicted = fewshot.protonet_classify(support, labels, np.array([[0.9, 0.1], [0, 2.5]]),
                                          np.array([7, 4]))
    assert predicted.tolist() == [0, 1]


def test_prototypes_refuse_a_way_without_support():
    with pytest.raises(ValueError, match=r"classes \[2\] have no support"):
        fewshot.prototypes(np.zeros((4, 3)), np.array([0, 0, 1, 1]), 3)
    with pytest.raises(ValueError, match="expected embeddings"):
        fewshot.prototypes(np.zeros((4, 3)), np.array([0, 1]), 2)


def test_score_gives_one_accuracy_per_episode():
    features = np.eye(10)[LABELS % 10]  # one-hot of the label: a perfect embedding
    eps = fewshot.episodes(LABELS, 7, 5, 1, 5, seed=0)
    assert np.array_equal(fewshot.score(features, eps, fewshot.protonet_classify), np.ones(7))


def test_predictions_map_back_to_the_pool_labels_and_agree_with_score():
    rng = np.random.default_rng(0)
    features = np.eye(8)[LABELS] + 0.3 * rng.normal(size=(len(LABELS), 8))
    eps = fewshot.episodes(LABELS, 6, 5, 3, 4, seed=2)
    predicted = fewshot.predictions(features, eps, fewshot.protonet_classify)
    assert [len(p) for p in predicted] == [20] * 6
    for p, ep, accuracy in zip(predicted, eps,
                               fewshot.score(features, eps, fewshot.protonet_classify)):
        assert np.mean(p == ep.query_labels) == accuracy
        # ways back to the pool's labels: right answers are the queries' own labels
        right = p == ep.query_labels
        assert np.array_equal(ep.classes[p][right], LABELS[ep.query][right])


def test_conv4_docstring_types_no_parameter_count():
    import re

    assert not re.search(r"\d[\d,]* parameters", fewshot.conv4_embedding.__doc__)


def test_conv4_embedding_ends_in_64_numbers():
    model = fewshot.conv4_embedding()
    assert model.output.shape == (None, 64)
    assert model(np.zeros((2, 28, 28, 1), np.float32)).shape == (2, 64)


# -- the UCI digits in MNIST's format -------------------------------------------------------

def test_uci_digits_come_in_mnist_format_and_centred():
    from scipy import ndimage

    images, labels = uci.load_digits()
    assert images.shape == (1797, 28, 28) and images.dtype == np.uint8
    assert labels.shape == (1797,) and set(labels.tolist()) == set(range(10))
    assert images.max() == 255
    for image in images[:50]:
        rows = np.flatnonzero(image.any(axis=1))
        cols = np.flatnonzero(image.any(axis=0))
        # the ink fits a 20x20 box (plus the anti-aliased rim) with the longer side filled
        assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 in range(19, 23)
        assert np.allclose(ndimage.center_of_mass(image.astype(float)), (13.5, 13.5), atol=0.5)


def test_mnist_format_keeps_the_aspect_ratio():
    tall = np.zeros((1, 8, 8))
    tall[0, 0:8, 3:5] = 16  # a 8x2 bar
    out = uci.mnist_format(tall, max_value=16)[0]
    rows, cols = np.flatnonzero(out.any(axis=1)), np.flatnonzero(out.any(axis=0))
    height, width = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    assert 19 <= height <= 21 and 4 <= width <= 7


@pytest.mark.parametrize("images,message", [
    (np.zeros((2, 8, 8)), "image 0 is blank"),
    (np.full((1, 8, 8), 17.0), r"must lie in \[0, 16"),
    (np.zeros((8, 8)), "shape"),
])
def test_mnist_format_refuses_bad_input(images, message):
    with pytest.raises(ValueError, match=message):
        uci.mnist_format(images, max_value=16)
