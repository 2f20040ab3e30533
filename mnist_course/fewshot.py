"""Few-shot episodes, and the distance layer of Prototypical Networks (Snell et al. 2017).

An *episode* is a small classification task: ``n_way`` classes, ``k_shot`` labelled
*support* images of each, and ``n_query`` *query* images of each to classify. Episodes are
sampled as indices into a pool of images, so the same episodes can be scored on raw pixels,
on any embedding, and by any method: every method in a comparison sees the same tasks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import keras
import numpy as np
from keras import layers

from mnist_course.models import BN_MOMENTUM, INPUT_SHAPE


class Episode(NamedTuple):
    """Indices into the pool, and episode labels ``0..n_way-1`` (``classes[label]`` is the
    pool's own label)."""

    support: np.ndarray
    support_labels: np.ndarray
    query: np.ndarray
    query_labels: np.ndarray
    classes: np.ndarray


def split_support_query(indices: np.ndarray, k_shot: int, n_query: int,
                        rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Draw ``k_shot`` support and ``n_query`` query indices from one class's ``indices``,
    without replacement, so that no image is both."""
    if k_shot < 1 or n_query < 1:
        raise ValueError(f"k_shot and n_query must be at least 1, got {k_shot} and {n_query}")
    if k_shot + n_query > len(indices):
        raise ValueError(f"asked for {k_shot} shots + {n_query} queries of a class that has "
                         f"only {len(indices)} images: ask for fewer")
    chosen = rng.choice(indices, size=k_shot + n_query, replace=False)
    return chosen[:k_shot], chosen[k_shot:]


def sample_episode(labels: np.ndarray, n_way: int, k_shot: int, n_query: int,
                   rng: np.random.Generator) -> Episode:
    """One episode from the pool whose labels are ``labels``: ``n_way`` distinct classes
    drawn at random, then :func:`split_support_query` within each."""
    labels = np.asarray(labels)
    available = np.unique(labels)
    if not 1 <= n_way <= len(available):
        raise ValueError(f"n_way={n_way}: the pool has {len(available)} classes "
                         f"({available.tolist()})")
    classes = rng.choice(available, size=n_way, replace=False)
    support, query = [], []
    for c in classes:
        s, q = split_support_query(np.flatnonzero(labels == c), k_shot, n_query, rng)
        support.append(s)
        query.append(q)
    ways = np.arange(n_way)
    return Episode(np.concatenate(support), np.repeat(ways, k_shot),
                   np.concatenate(query), np.repeat(ways, n_query), classes)


def episodes(labels: np.ndarray, n_episodes: int, n_way: int, k_shot: int, n_query: int,
             seed: int) -> list[Episode]:
    """``n_episodes`` episodes, the same ones for the same ``seed``."""
    rng = np.random.default_rng(seed)
    return [sample_episode(labels, n_way, k_shot, n_query, rng) for _ in range(n_episodes)]


def prototypes(support: np.ndarray, support_labels: np.ndarray, n_way: int) -> np.ndarray:
    """The mean embedding of each class's support examples, ``(n_way, dim)``."""
    support = np.asarray(support, dtype=np.float64)
    support_labels = np.asarray(support_labels)
    if support.ndim != 2 or len(support) != len(support_labels):
        raise ValueError(f"expected embeddings (N, dim) and N labels, got {support.shape} "
                         f"and {support_labels.shape}")
    missing = sorted(set(range(n_way)) - set(support_labels.tolist()))
    if missing:
        raise ValueError(f"classes {missing} have no support example")
    return np.stack([support[support_labels == c].mean(axis=0) for c in range(n_way)])


def squared_euclidean_logits(queries: np.ndarray, protos: np.ndarray) -> np.ndarray:
    """ProtoNet's logits: minus the squared Euclidean distance from each query to each
    prototype, ``(n_queries, n_way)``; a softmax over them gives the class probabilities."""
    queries, protos = np.asarray(queries, np.float64), np.asarray(protos, np.float64)
    return -(np.sum(queries**2, axis=1, keepdims=True) - 2 * queries @ protos.T
             + np.sum(protos**2, axis=1))


def predictions(features: np.ndarray, eps: list[Episode], classify: Callable
                ) -> list[np.ndarray]:
    """The predicted episode label of every query, one array per episode, from
    ``classify(support, support_labels, queries, classes)`` with ``features`` the pool
    (pixels or embeddings) and ``classes`` the pool's label of each way
    (``n_way = len(classes)``); ``ep.classes[predicted]`` gives the pool's labels."""
    return [np.asarray(classify(features[ep.support], ep.support_labels,
                                features[ep.query], ep.classes)) for ep in eps]


def score(features: np.ndarray, eps: list[Episode], classify: Callable) -> np.ndarray:
    """The accuracy of ``classify`` (as in :func:`predictions`) on each episode."""
    return np.array([np.mean(predicted == ep.query_labels)
                     for predicted, ep in zip(predictions(features, eps, classify), eps)])


def protonet_classify(support: np.ndarray, support_labels: np.ndarray, queries: np.ndarray,
                      classes: np.ndarray) -> np.ndarray:
    """The nearest prototype's label, by squared Euclidean distance."""
    protos = prototypes(support, support_labels, len(classes))
    return squared_euclidean_logits(queries, protos).argmax(axis=1)


def conv4_embedding(filters: int = 64, name: str = "conv4") -> keras.Model:
    """The standard few-shot embedding (Vinyals et al. 2016; Snell et al. 2017): four blocks
    of 3x3 convolution (``filters`` maps), batch norm, ReLU and 2x2 max pooling. On 28x28
    inputs the maps shrink 28 -> 14 -> 7 -> 3 -> 1, so the output is a ``filters``-long
    vector (``model.count_params()`` gives its size)."""
    inputs = keras.Input(INPUT_SHAPE)
    x = inputs
    for i in range(1, 5):
        x = layers.Conv2D(filters, 3, padding="same", name=f"block{i}_conv")(x)
        x = layers.BatchNormalization(momentum=BN_MOMENTUM, name=f"block{i}_bn")(x)
        x = layers.ReLU(name=f"block{i}_relu")(x)
        x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    return keras.Model(inputs, layers.Flatten(name="embedding")(x), name=name)
