"""Chapter 07c's checker of exercise 3 refuses the course's own intervals."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mnist_course.course import claims
from mnist_course.course.checks import ch07c


def own(levels, fused, alone):
    d = np.asarray(fused, float) - np.asarray(alone, float)
    for level, col in zip(levels, d.T):
        if not stats.t.interval(0.95, len(col) - 1, col.mean(), stats.sem(col))[0] > 0:
            return level
    return None


def test_a_scipy_answer_passes_strictly():
    assert ch07c.strict_check.first_level_without_gain(own).passed


def test_the_course_s_paired_difference_is_refused():
    def borrowed(levels, fused, alone):
        for j, level in enumerate(levels):
            if not claims.paired_difference(fused[:, j], alone[:, j]).low > 0:
                return level
        return None

    result = ch07c.check.first_level_without_gain(borrowed)
    assert not result.passed and "course's own" in result.problems[0]
    with pytest.raises(AssertionError):
        ch07c.strict_check.first_level_without_gain(borrowed)


def test_the_course_s_t_interval_is_refused_even_through_a_helper():
    def low(d):
        return claims.t_interval(d).low

    def through_helper(levels, fused, alone):
        d = np.asarray(fused) - np.asarray(alone)
        return next((lv for lv, col in zip(levels, d.T) if not low(col) > 0), None)

    assert "course's own" in ch07c.check.first_level_without_gain(through_helper).problems[0]


def test_a_positive_mean_is_not_a_gain():
    def by_mean(levels, fused, alone):
        d = (np.asarray(fused) - np.asarray(alone)).mean(axis=0)
        return next((lv for lv, m in zip(levels, d) if m <= 0), None)

    problems = ch07c.check.first_level_without_gain(by_mean).problems
    assert any("whole 95% t-interval" in p for p in problems)
