"""Checkers of chapter 07a (few-shot learning): prototypes and their logits, the episode
sampler's support/query split, cosine logits."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mnist_course.course.checks.core import Checker, Result, attempt_without


def _hand_made():
    """Two ways, two shots, in 2-D: prototypes (1, 0) and (0, 3); queries with known logits."""
    support = np.array([[0.0, 0.0], [0.0, 6.0], [2.0, 0.0], [0.0, 0.0]])
    labels = np.array([1, 1, 0, 0])
    queries = np.array([[1.0, 0.0], [0.0, 3.0], [1.0, 3.0]])
    # squared distances to (1, 0) and (0, 3)
    expected = -np.array([[0.0, 10.0], [10.0, 0.0], [9.0, 1.0]])
    return support, labels, queries, expected


class Checks(Checker):
    """The exercises of this chapter; ``strict=True`` raises on failure (solutions)."""

    def prototype_logits(self, fn: Callable) -> Result:
        """``fn(support, support_labels, queries, n_way)``: minus squared distances to the
        class means."""
        from mnist_course import fewshot

        originals = (fewshot.prototypes, fewshot.squared_euclidean_logits,
                     fewshot.protonet_classify)
        support, labels, queries, expected = _hand_made()
        got, problem = attempt_without(originals, fn, support, labels, queries, 2)
        if problem:
            return self._report("prototype_logits", [problem])
        got = np.asarray(got, dtype=float)
        problems = []
        if got.shape != expected.shape:
            problems.append(f"expected shape (n_queries, n_way) = {expected.shape}, "
                            f"got {got.shape}.")
        elif not np.allclose(got, expected):
            hint = ""
            if np.allclose(got, -expected):
                hint = " The sign: larger logits must mean closer, so negate the distance."
            elif np.allclose(got, -np.sqrt(-expected)):
                hint = " Square the distance (Snell et al. use the squared Euclidean one)."
            problems.append(f"on a hand-made episode (prototypes (1, 0) and (0, 3)) expected "
                            f"{expected.tolist()}, got {np.round(got, 3).tolist()}.{hint}")
        if not problems:  # a larger random case, against the package
            rng = np.random.default_rng(7)
            support, queries = rng.normal(size=(30, 16)), rng.normal(size=(12, 16))
            labels = np.repeat(np.arange(5), 6)
            rng.shuffle(labels)
            got, problem = attempt_without(originals, fn, support, labels, queries, 5)
            reference = fewshot.squared_euclidean_logits(
                queries, fewshot.prototypes(support, labels, 5))
            if problem or not np.allclose(np.asarray(got, float), reference):
                problems.append(problem or "right on the small example, wrong on 5 ways with "
                                "shuffled labels: group the support by label, not by position.")
        return self._report("prototype_logits", problems)

    def split_support_query(self, fn: Callable) -> Result:
        """``fn(indices, k_shot, n_query, rng)``: disjoint draws, seeded, refusing too few."""
        from mnist_course import fewshot

        originals = (fewshot.split_support_query, fewshot.sample_episode, fewshot.episodes)
        indices = np.arange(100, 160)
        problems = []
        got, problem = attempt_without(originals, fn, indices, 5, 15, np.random.default_rng(0))
        if problem:
            return self._report("split_support_query", [problem])
        try:
            support, query = (np.asarray(part) for part in got)
        except (TypeError, ValueError):
            return self._report("split_support_query", [
                f"return a pair (support, query), got {type(got).__name__}."])
        if (len(support), len(query)) != (5, 15):
            problems.append(f"5 shots and 15 queries asked, got {len(support)} and "
                            f"{len(query)}.")
        if not np.isin(np.concatenate([support, query]), indices).all():
            problems.append("return indices taken from `indices`, not positions in it.")
        if len(np.intersect1d(support, query)) or len(np.unique(support)) < len(support) \
                or len(np.unique(query)) < len(query):
            problems.append("an index appears twice: draw without replacement, so that no "
                            "image is both support and query.")
        again, _ = attempt_without(originals, fn, indices, 5, 15, np.random.default_rng(0))
        other, _ = attempt_without(originals, fn, indices, 5, 15, np.random.default_rng(1))
        if again is not None and not np.array_equal(np.asarray(again[0]), support):
            problems.append("the same seed gave different draws: use the `rng` you are given.")
        if other is not None and np.array_equal(np.asarray(other[0]), support) and \
                np.array_equal(np.asarray(other[1]), query):
            problems.append("two seeds gave the same draw: draw at random with `rng`.")
        problem = _refuses_too_few(fn, originals, np.arange(10), 5, 6)
        if problem:
            problems.append(problem)
        return self._report("split_support_query", problems)

    def cosine_logits(self, fn: Callable) -> Result:
        """``fn(queries, protos)``: cosine similarity, ``(n_queries, n_way)``; scikit-learn's
        own (the chapter's stand-in until this passes) is refused."""
        from sklearn.metrics import pairwise

        rng = np.random.default_rng(3)
        queries, protos = rng.normal(size=(8, 6)), rng.normal(size=(5, 6))
        expected = (queries / np.linalg.norm(queries, axis=1, keepdims=True)) @ \
            (protos / np.linalg.norm(protos, axis=1, keepdims=True)).T
        got, problem = attempt_without(
            (pairwise.cosine_similarity, pairwise.cosine_distances), fn, queries, protos)
        if problem:  # the refusal names the library, not the course
            return self._report("cosine_logits",
                                [problem.replace("the course's own", "scikit-learn's")])
        got = np.asarray(got, dtype=float)
        problems = []
        if got.shape != expected.shape:
            problems.append(f"expected shape {expected.shape}, got {got.shape}.")
        elif not np.allclose(got, expected):
            hint = ""
            if np.allclose(got, queries @ protos.T):
                hint = " Normalise both sides to unit length first: that is a dot product."
            elif np.allclose(got, 1 - expected) or np.allclose(got, -expected):
                hint = " Return the similarity (larger = closer), not a distance."
            problems.append("the values differ from the cosine similarity." + hint)
        return self._report("cosine_logits", problems)


def _refuses_too_few(fn: Callable, originals: tuple, indices, k_shot: int,
                       n_query: int) -> str | None:
    """A problem if asking ``fn`` for more images than a class has does not raise
    ValueError."""
    _, problem = attempt_without(originals, fn, indices, k_shot, n_query,
                                 np.random.default_rng(0))
    if problem and "ValueError" in problem:
        return None
    return (f"a class of {len(indices)} images cannot give {k_shot} shots + {n_query} queries: "
            "raise ValueError with a message that says so"
            + (f" (it raised: {problem})." if problem else ", instead of returning."))


#: For the chapter: explains, never raises.
check = Checks(strict=False)
#: For the solutions notebook: raises AssertionError on any problem.
strict_check = Checks(strict=True)
