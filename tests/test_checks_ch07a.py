"""Chapter 07a's exercise 3 checker refuses scikit-learn's cosine, the chapter's stand-in."""

from __future__ import annotations

import numpy as np
import pytest
import sklearn.metrics.pairwise
from sklearn.metrics.pairwise import cosine_distances, cosine_similarity

from mnist_course.course.checks import ch07a


def own_cosine(q, p):
    q = np.asarray(q) / np.linalg.norm(q, axis=1, keepdims=True)
    p = np.asarray(p) / np.linalg.norm(p, axis=1, keepdims=True)
    return q @ p.T


def test_an_own_cosine_passes_strictly():
    assert ch07a.strict_check.cosine_logits(own_cosine).passed


@pytest.mark.parametrize("answer", [
    cosine_similarity,
    lambda q, p: cosine_similarity(q, p),
    lambda q, p: 1 - cosine_distances(q, p),
    lambda q, p: sklearn.metrics.pairwise.cosine_similarity(q, p),  # reached at call time
], ids=["itself", "wrapped", "from distances", "by module path"])
def test_scikit_learns_cosine_is_refused(answer):
    result = ch07a.check.cosine_logits(answer)
    assert not result.passed
    assert "scikit-learn's" in result.problems[0] or "switched off" in result.problems[0]
    with pytest.raises(AssertionError):
        ch07a.strict_check.cosine_logits(answer)


def test_the_library_works_again_after_the_check():
    ch07a.check.cosine_logits(lambda q, p: sklearn.metrics.pairwise.cosine_similarity(q, p))
    x = np.array([[1.0, 0.0], [0.0, 2.0]])
    assert np.allclose(sklearn.metrics.pairwise.cosine_similarity(x, x), np.eye(2))
