"""The verdict policy: every branch of every rule, on synthetic numbers, and the promise that
more noise can only move a verdict towards 'not reproducible here'."""

import itertools
import json
import math

import numpy as np
import pytest

from mnist_course.course import claims
from mnist_course.course.claims import (
    CONFIRMED,
    PARTLY,
    REFUTED,
    UNDECIDED,
    Claim,
    Interval,
    Verdict,
)


def iv(low, high, estimate=None):
    return Interval((low + high) / 2 if estimate is None else estimate, low, high, "test")


# -- intervals ------------------------------------------------------------------------------

def test_t_interval_uses_student_t_not_two_standard_errors():
    values = [0.1, 0.2, 0.6]
    got = claims.t_interval(values)
    sem = np.std(values, ddof=1) / math.sqrt(3)
    assert got.high - got.estimate == pytest.approx(4.302653 * sem, rel=1e-5)  # t(0.975, 2)
    assert got.high - got.estimate > 2 * sem * 2  # far wider than the old 2*sd/sqrt(n)


def test_t_interval_of_one_value_decides_nothing():
    one = claims.t_interval([3.0])
    assert math.isinf(one.low) and math.isinf(one.high)
    assert claims.effect(0.7, one).verdict == UNDECIDED
    assert claims.at_least(1, one).verdict == UNDECIDED


def test_paired_difference_is_the_t_interval_of_the_differences():
    treated, control = [1.0, 2.0, 3.5, 2.0, 1.0], [0.5, 1.0, 3.0, 2.1, 0.2]
    got = claims.paired_difference(treated, control)
    ref = claims.t_interval(np.subtract(treated, control))
    assert (got.low, got.high) == (ref.low, ref.high) and "paired" in got.method
    with pytest.raises(ValueError, match="equal lengths"):
        claims.paired_difference([1, 2], [1])


def test_a_difference_on_fewer_than_five_paired_seeds_is_never_decided():
    big_gain = [10.0, 10.5, 9.5, 10.2, 9.8, 10.1]  # a clear, steady gain of 10 points
    for n in range(2, claims.MIN_PAIRED_SEEDS):
        few = claims.paired_difference(big_gain[:n], [0.0] * n)
        assert few.low > 5  # the interval itself is kept, and would be decisive
        for v in (claims.effect(1, few), claims.effect(-1, few), claims.at_least(1, few),
                  claims.at_most(50, few), claims.about(10, few, 5),
                  claims.ratio(2, few), claims.effect(1, few.scaled(2))):
            assert v.verdict == claims.UNDECIDED
            assert f"fewer than the {claims.MIN_PAIRED_SEEDS}" in v.why
    n = claims.MIN_PAIRED_SEEDS
    enough = claims.paired_difference(big_gain[:n], [0.0] * n)
    assert claims.effect(1, enough).verdict == claims.CONFIRMED
    assert claims.effect(-1, enough).verdict == claims.REFUTED


def test_wilson_interval_matches_the_closed_form():
    k, n, z = 9_906, 10_000, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    got = claims.binomial_interval(k, n)
    assert got.low == pytest.approx(centre - half, abs=1e-9)
    assert got.high == pytest.approx(centre + half, abs=1e-9)
    assert claims.binomial_interval(5, 5).low == pytest.approx(0.5655, abs=1e-4)
    for bad in ((11, 10), (-1, 10), (0, 0)):
        with pytest.raises(ValueError):
            claims.binomial_interval(*bad)


def test_bootstrap_interval_contains_the_estimate_and_is_seeded():
    values = np.random.default_rng(0).normal(10, 1, 30)
    a, b = claims.bootstrap_interval(values), claims.bootstrap_interval(values)
    assert a == b and a.low <= a.estimate <= a.high and a.low < a.high
    flat = claims.bootstrap_interval([2.0, 2.0, 2.0])
    assert flat.low == flat.high == 2.0
    with pytest.raises(ValueError):
        claims.bootstrap_interval([1.0])


def test_bootstrap_of_a_ratio_of_two_samples():
    rng = np.random.default_rng(1)
    slow, fast = rng.normal(3.0, 0.1, 200), rng.normal(1.0, 0.05, 200)

    def speedup(a, b):
        return np.median(a) / np.median(b)

    got = claims.bootstrap_interval(slow, fast, statistic=speedup, what="timings")
    assert 2.8 < got.low < got.estimate < got.high < 3.2 and "speedup" in got.method


def test_intervals_refuse_nonsense():
    with pytest.raises(ValueError, match="does not contain"):
        Interval(5, 0, 1, "x")
    with pytest.raises(ValueError, match="finite"):
        claims.t_interval([1.0, float("nan")])
    assert str(claims.exact(3)) == "3 (exact)"
    assert iv(0.5, 0.7).scaled(100).low == 50


# -- every branch of every rule -------------------------------------------------------------

@pytest.mark.parametrize("measured,expected", [
    (iv(99.1, 99.3), CONFIRMED),
    (iv(98.0, 98.9), REFUTED),  # tolerance 0
    (iv(98.9, 99.1), UNDECIDED),
])
def test_at_least_without_tolerance(measured, expected):
    assert claims.at_least(99, measured).verdict == expected


@pytest.mark.parametrize("measured,expected", [
    (iv(99.0, 99.2), CONFIRMED),
    (iv(98.8, 98.95), PARTLY),
    (iv(97.0, 98.4), REFUTED),
    (iv(98.3, 98.7), UNDECIDED),  # straddles claimed - tolerance
    (iv(98.8, 99.1), UNDECIDED),  # straddles claimed
])
def test_at_least_with_tolerance(measured, expected):
    assert claims.at_least(99, measured, tolerance=0.5).verdict == expected


@pytest.mark.parametrize("measured,expected", [
    (claims.exact(61_706), CONFIRMED),
    (iv(55_000, 65_000), CONFIRMED),
    (claims.exact(29_402), REFUTED),
    (iv(80_000, 90_000), REFUTED),
    (iv(62_000, 70_000), UNDECIDED),
])
def test_about(measured, expected):
    assert claims.about(60_000, measured, tolerance=6_000).verdict == expected


@pytest.mark.parametrize("measured,expected", [
    (iv(0.1, 0.3), CONFIRMED),
    (iv(50, 60), REFUTED),
    (iv(40, 60), UNDECIDED),
])
def test_at_most(measured, expected):
    verdict = claims.at_most(50, measured)
    assert verdict.verdict == expected
    if expected == CONFIRMED:
        assert "margin 167x" in verdict.why  # a loose limit is visible as such


@pytest.mark.parametrize("claimed,measured,expected", [
    (0.7, iv(0.8, 1.2), CONFIRMED),
    (0.7, iv(0.1, 0.4), PARTLY),
    (0.7, iv(-0.5, -0.1), REFUTED),
    (0.7, iv(-0.2, 0.0), REFUTED),  # no effect at all counts against the claim
    (0.7, iv(-0.1, 0.5), UNDECIDED),  # straddles zero
    (0.7, iv(0.5, 0.9), UNDECIDED),  # straddles the claim
    (-3.0, iv(-4, -3.5), CONFIRMED),  # a claimed decrease
    (-3.0, iv(0.5, 1), REFUTED),
])
def test_effect(claimed, measured, expected):
    assert claims.effect(claimed, measured).verdict == expected


def test_effect_tolerance_and_null():
    assert claims.effect(4, iv(3.6, 5), tolerance=0.5).verdict == CONFIRMED
    assert claims.effect(4, iv(3.6, 5)).verdict == UNDECIDED
    assert claims.effect(2, iv(0.9, 0.95), null=1).verdict == REFUTED
    with pytest.raises(ValueError):
        claims.effect(0, iv(1, 2))


@pytest.mark.parametrize("measured,expected", [
    (iv(7.5, 9.0), CONFIRMED),
    (iv(2.0, 4.0), PARTLY),
    (iv(0.5, 0.9), REFUTED),
    (iv(0.9, 1.2), UNDECIDED),
    (claims.exact(8.0), CONFIRMED),
    (claims.exact(1.04), PARTLY),
    (claims.exact(0.79), REFUTED),
])
def test_ratio(measured, expected):
    assert claims.ratio(8, measured).verdict == expected


def test_combine():
    c, p, r, u = (Verdict(v, "rule", "why") for v in (CONFIRMED, PARTLY, REFUTED, UNDECIDED))
    assert claims.combine(c, c).verdict == CONFIRMED
    assert claims.combine(r, r).verdict == REFUTED
    assert claims.combine(c, r).verdict == PARTLY
    assert claims.combine(p).verdict == PARTLY
    assert claims.combine(c, u).verdict == UNDECIDED
    assert "Part 2: refuted" in claims.combine(c, r).why
    with pytest.raises(ValueError):
        claims.combine()


def test_in_setting():
    confirmed = claims.at_most(8, iv(0.2, 0.3))
    assert claims.in_setting(confirmed, "a T4 GPU", "this CPU", same=True) == confirmed
    other = claims.in_setting(confirmed, "a T4 GPU", "this CPU", same=False)
    assert other.verdict == UNDECIDED and "Different setting" in other.why
    assert "a T4 GPU" in other.why and "'confirmed'" in other.why
    refuted = claims.at_most(8, iv(9, 10))
    assert claims.in_setting(refuted, "a T4 GPU", "a T4 GPU", same=True).verdict == REFUTED


# -- more noise never helps -----------------------------------------------------------------

ORDER = {CONFIRMED: 0, PARTLY: 0, REFUTED: 0, UNDECIDED: 1}
RULES = [
    lambda m: claims.about(50, m, tolerance=5),
    lambda m: claims.at_least(99, m),
    lambda m: claims.at_least(99, m, tolerance=0.5),
    lambda m: claims.at_most(50, m),
    lambda m: claims.effect(0.7, m),
    lambda m: claims.effect(-2, m, tolerance=0.3),
    lambda m: claims.ratio(3, m) if m.low > 0 else claims.effect(3, m, null=1),
]


@pytest.mark.parametrize("rule", range(len(RULES)))
def test_widening_an_interval_only_moves_towards_not_reproducible(rule):
    grid = np.linspace(-3, 110, 60)
    for centre, half in itertools.product(grid, (0.0, 0.05, 0.3, 1, 5)):
        narrow = Interval(centre, centre - half, centre + half, "test")
        before = RULES[rule](narrow).verdict
        for extra in (0.01, 0.2, 1.0, 10.0):
            wide = Interval(centre, centre - half - extra, centre + half + extra, "test")
            after = RULES[rule](wide).verdict
            assert after == before or after == UNDECIDED, (rule, narrow, wide, before, after)


# -- the table and its stored data -----------------------------------------------------------

def test_claims_table_renders_and_stores_every_row():
    verdict = claims.at_least(99, claims.binomial_interval(9_906, 10_000).scaled(100))
    table = claims.claims_table([Claim("C1", "99.06% with 61,706 parameters", verdict,
                                       "LeNet-5 | 20 epochs")])
    bundle = table._repr_mimebundle_()
    rows = bundle[claims.CLAIMS_MIME]
    assert rows[0]["id"] == "C1" and rows[0]["verdict"] == verdict.verdict
    assert rows[0]["article"] == claims.ARTICLE_CLAIMS["C1"][0]
    json.dumps(rows)  # storable as the notebook's JSON output
    markdown = bundle["text/markdown"]
    assert markdown.count("\n") == 2 and "LeNet-5 \\| 20 epochs" in markdown
    assert f"**{verdict.verdict}**" in markdown


def test_claims_refuse_unknown_ids_and_rows():
    with pytest.raises(ValueError, match="unknown claim"):
        Claim("C99", "x", Verdict(CONFIRMED, "r", "w"))
    with pytest.raises(ValueError, match="verdict"):
        Verdict("maybe", "r", "w")
    with pytest.raises(TypeError):
        claims.claims_table([("C1", "x")])
