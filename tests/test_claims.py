"""The verdict policy: every branch of the rule and every reading on synthetic numbers, the
edges of the region, the refusals, and the promise that more noise never makes a verdict
more decided."""

import json
import math

import numpy as np
import pytest

from mnist_course.course import claims
from mnist_course.course.claims import (
    CONFIRMED,
    INCONCLUSIVE,
    PARTLY,
    READINGS,
    REFUTED,
    UNTESTABLE_BUDGET,
    UNTESTABLE_SETTING,
    Claim,
    ClaimSpec,
    Interval,
    Reading,
)


def iv(low, high, estimate=None, **kw):
    return Interval((low + high) / 2 if estimate is None else estimate, low, high, "test", **kw)


def with_reading(monkeypatch, reading: Reading, claim_id: str = "C7") -> str:
    """Judge ``claim_id`` under ``reading`` (a one-part claim) for this test only."""
    monkeypatch.setitem(READINGS, claim_id, ClaimSpec("test", ("00",), {"": reading}))
    return claim_id


def label(claim_id, measured, **kw):
    return claims.judge(claim_id, measured, **kw).verdict


# -- intervals ------------------------------------------------------------------------------

def test_t_interval_uses_student_t_not_two_standard_errors():
    values = [0.1, 0.2, 0.6]
    got = claims.t_interval(values)
    sem = np.std(values, ddof=1) / math.sqrt(3)
    assert got.high - got.estimate == pytest.approx(4.302653 * sem, rel=1e-5)  # t(0.975, 2)
    assert got.estimate - got.low == pytest.approx(4.302653 * sem, rel=1e-5)
    assert got.n == 3 and "3 seeds" in got.method


def test_t_interval_of_one_value_decides_nothing():
    one = claims.t_interval([3.0])
    assert math.isinf(one.low) and math.isinf(one.high)
    assert label("C4", one) == INCONCLUSIVE
    with pytest.raises(ValueError, match="finite"):
        claims.t_interval([1.0, math.nan])
    with pytest.raises(ValueError):
        claims.t_interval([])


def test_zero_spread_gets_the_resolution_never_width_zero():
    with pytest.raises(ValueError, match="resolution"):
        claims.t_interval([2.0, 2.0, 2.0])
    got = claims.t_interval([2.0] * 5, resolution=0.01)
    assert got.low < 2.0 < got.high
    # a coarser measurement (resolution 1) is never more decided than a finer one
    coarse = claims.t_interval([2.0] * 5, resolution=1.0)
    assert coarse.high - coarse.low > got.high - got.low
    flat = claims.bootstrap_interval([3.0] * 4, resolution=0.5)
    assert (flat.low, flat.high) == (2.75, 3.25)
    with pytest.raises(ValueError, match="resolution"):
        claims.bootstrap_interval([3.0] * 4)


def test_exact_values_carry_half_their_resolution():
    count = claims.exact(61_706, 1)
    assert (count.low, count.high) == (61_705.5, 61_706.5) and count.estimate == 61_706
    with pytest.raises(ValueError, match="positive resolution"):
        claims.exact(3, 0)


def test_accuracy_over_seeds_stays_inside_zero_and_one():
    # a t-interval in points would reach past 100% here ("95.4 (87.6 to 103.2)")
    accs = [0.999, 0.88, 0.983]
    plain = claims.t_interval(accs)
    assert plain.high > 1
    got = claims.accuracy_over_seeds(accs, 10_000)
    assert 0 <= got.low < got.estimate < got.high <= 1
    assert got.estimate == pytest.approx(np.mean(accs))
    same = claims.accuracy_over_seeds([1.0] * 5, 1000)
    assert same.low < 1.0 and same.high == 1.0  # one image in n, never width zero
    for bad in ([1.2], [-0.1], []):
        with pytest.raises(ValueError):
            claims.accuracy_over_seeds(bad, 100)


def test_paired_difference_is_the_t_interval_of_the_differences():
    treated, control = [1.0, 2.0, 3.5, 2.0, 1.0], [0.5, 1.0, 3.0, 2.1, 0.2]
    got = claims.paired_difference(treated, control)
    ref = claims.t_interval(np.subtract(treated, control))
    assert (got.low, got.high) == (ref.low, ref.high) and "paired" in got.method
    assert got.paired and got.n == 5
    with pytest.raises(ValueError, match="equal lengths"):
        claims.paired_difference([1, 2], [1])


def test_min_paired_seeds_is_five_and_four_pairs_are_never_decided():
    assert claims.MIN_PAIRED_SEEDS == 5
    gain = [13.0, 12.5, 12.2, 13.1, 12.8]  # a clear, steady gain inside C8's region
    four = claims.paired_difference(gain[:4], [0.0] * 4)
    assert four.low > 9  # the interval itself would be decisive
    v = claims.judge("C8", four)
    assert v.verdict == UNTESTABLE_BUDGET and "4 paired seed(s)" in v.why
    assert label("C8", claims.paired_difference(gain, [0.0] * 5)) == CONFIRMED
    # the same numbers unpaired (a level, not a difference) need no pairs
    assert label("C8", iv(12, 13, n=4)) == CONFIRMED


def test_wilson_interval_matches_the_closed_form():
    k, n, z = 9_906, 10_000, 1.959963984540054
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    got = claims.binomial_interval(k, n)
    assert got.low == pytest.approx(centre - half, abs=1e-9)
    assert got.high == pytest.approx(centre + half, abs=1e-9)
    assert claims.binomial_interval(5, 5).low == pytest.approx(0.5655, abs=1e-4)
    assert got.n == n
    for bad in ((11, 10), (-1, 10), (0, 0)):
        with pytest.raises(ValueError):
            claims.binomial_interval(*bad)


def test_bootstrap_interval_of_a_ratio_of_medians():
    rng = np.random.default_rng(0)
    a, b = rng.normal(3.0, 0.1, 200), rng.normal(1.0, 0.05, 200)
    got = claims.bootstrap_interval(a, b, statistic=lambda x, y: np.median(x) / np.median(y))
    assert got.low < got.estimate < got.high and 2.8 < got.estimate < 3.2
    assert got.n == 400
    with pytest.raises(ValueError):
        claims.bootstrap_interval([1.0])


def test_an_interval_must_hold_a_finite_estimate():
    with pytest.raises(ValueError, match="finite"):
        Interval(math.nan, 0, 1, "x")
    with pytest.raises(ValueError, match="finite"):
        Interval(math.inf, 0, math.inf, "x")
    with pytest.raises(ValueError, match="does not contain"):
        Interval(2, 0, 1, "x")
    with pytest.raises(ValueError, match="positive factor"):
        iv(0, 1).scaled(0)
    assert iv(0.1, 0.3).scaled(100).high == pytest.approx(30)


# -- readings -------------------------------------------------------------------------------

def test_regions_of_each_reading():
    assert Reading("at least", 12, 3, "q", null=0).region == (9, None)
    assert Reading("at most", 15, 0, "l").region == (None, 15)
    assert Reading("about", 60_000, 6_000, "a").region == (54_000, 66_000)
    low, high = Reading("about", 8, 0.25, "r", null=1, log=True).region
    assert (low, high) == (pytest.approx(6.4), pytest.approx(10))
    assert Reading("at least", 3, 0.25, "r", null=1, log=True).region == (2.4, None)


@pytest.mark.parametrize("kwargs, message", [
    ({"reading": "around"}, "reading"),
    ({"margin": -0.1}, "negative margin"),
    ({"margin": 12}, "at or above the claimed effect"),
    ({"margin": 15}, "at or above the claimed effect"),
    ({"claimed": math.nan}, "finite"),
    ({"claimed": math.inf}, "finite"),
    ({"margin": math.nan}, "finite"),
    ({"null": math.nan}, "finite"),
    ({"claimed": 0, "null": 0, "margin": 0}, "at or above the claimed effect"),
    ({"log": True, "null": 0}, "positive"),
])
def test_readings_refuse_what_would_make_the_rule_lie(kwargs, message):
    base = {"reading": "at least", "claimed": 12, "margin": 3, "why_margin": "q", "null": 0}
    with pytest.raises(ValueError, match=message):
        Reading(**{**base, **kwargs})


def test_a_log_margin_at_or_above_the_effect_is_refused():
    with pytest.raises(ValueError, match="at or above"):
        Reading("at least", 1.1, 0.2, "x", null=1, log=True)
    Reading("at least", 1.1, 0.09, "x", null=1, log=True)  # just inside: accepted


def test_every_declared_reading_is_valid_and_every_article_claim_is_read():
    assert set(claims.ARTICLE_CLAIMS) == {f"C{i}" for i in range(1, 15)}
    for claim_id, spec in READINGS.items():
        assert spec.parts and spec.words and spec.chapters, claim_id
        for reading in spec.parts.values():
            assert reading.why_margin, claim_id
            if reading.setting:  # a claim for another setting names it in its words
                assert claim_id in ("C10", "C13") or claim_id.startswith("T06"), claim_id


def test_judge_refuses_unknown_claims_and_wrong_parts():
    with pytest.raises(ValueError, match="unknown claim"):
        claims.judge("C99", iv(0, 1))
    with pytest.raises(ValueError, match="parts"):
        claims.judge("C1", iv(99, 100))
    with pytest.raises(TypeError, match="Interval"):
        claims.judge("C4", 0.7)


# -- the rule, branch by branch ----------------------------------------------------------------

def test_an_accurate_replication_is_confirmed():
    assert label("C8", iv(11.9, 12.1)) == CONFIRMED  # was 'not reproducible here'
    assert label("C8", iv(9.0, 30.0)) == CONFIRMED  # touching the region's edge: inside


def test_a_real_effect_short_of_the_claim_is_partly_confirmed():
    v = claims.judge("C8", iv(5.0, 8.9))
    assert v.verdict == PARTLY and "claimed direction" in v.why and "below" in v.why
    assert label("C8", iv(0.1, 0.3)) == PARTLY
    # touching the null is not strictly on the claimed side: a smaller effect or none
    assert label("C8", iv(0.0, 8.0)) == INCONCLUSIVE


def test_an_interval_wholly_outside_the_region_is_refuted():
    v = claims.judge("C8", iv(-3.0, -1.0))  # the opposite effect
    assert v.verdict == REFUTED and "far side of no effect" in v.why
    assert label("C8", iv(-3.0, 0.0)) == REFUTED  # no effect at best
    v = claims.judge("C8", iv(-1.0, 2.0))  # far short, but a smaller effect or none
    assert v.verdict == INCONCLUSIVE and "cannot tell a smaller effect from none" in v.why
    assert label("C1", {"accuracy": iv(98.0, 98.9), "parameters": iv(6e4, 6e4)}) == REFUTED
    # 'about' is refuted from above too: far more than claimed is not 'about'
    assert label("C2", iv(20.0, 30.0)) == REFUTED
    assert label("C13", iv(9.0, 10.0), setting_ok=True) == REFUTED


def test_an_interval_on_the_regions_edge_is_inconclusive_and_says_where_the_estimate_is():
    v = claims.judge("C8", iv(7.0, 10.0, estimate=8.0))
    assert v.verdict == INCONCLUSIVE and "outside" in v.why and "narrower" in v.why
    v = claims.judge("C8", iv(8.0, 14.0, estimate=10.0))
    assert v.verdict == INCONCLUSIVE and "lies inside" in v.why
    assert label("C13", iv(7.0, 9.0), setting_ok=True) == INCONCLUSIVE


def test_edges_exactly_at_the_boundary():
    assert label("C8", iv(9.0, 9.0 + 1e-9, estimate=9.0)) == CONFIRMED
    assert label("C8", iv(8.0, 9.0)) == INCONCLUSIVE  # touches: not strictly outside
    assert label("C8", iv(8.0, 9.0 - 1e-9)) == PARTLY
    assert label("C13", iv(7.0, 8.0), setting_ok=True) == CONFIRMED
    assert label("C13", iv(8.0, 9.0), setting_ok=True) == INCONCLUSIVE
    assert label("C13", iv(8.0 + 1e-9, 9.0), setting_ok=True) == REFUTED
    params = {"accuracy": iv(99.5, 99.9)}
    assert label("C1", {**params, "parameters": iv(54_000, 66_000)}) == CONFIRMED
    assert label("C1", {**params, "parameters": iv(66_000, 70_000)}) == INCONCLUSIVE
    assert label("C1", {**params, "parameters": iv(66_001, 70_000)}) == REFUTED


def test_readings_below_the_null_point_the_other_way(monkeypatch):
    # "narrows the gap by at least 1 point": region up to -0.5, null 0
    assert label("T06.l2", iv(-3.0, -1.0, n=5, paired=True)) == CONFIRMED
    assert label("T06.l2", iv(-0.4, -0.1, n=5, paired=True)) == PARTLY
    assert label("T06.l2", iv(0.1, 0.5, n=5, paired=True)) == REFUTED
    assert label("T06.l2", iv(-0.7, -0.2, n=5, paired=True)) == INCONCLUSIVE
    # an 'about' claim with its null above the region
    cid = with_reading(monkeypatch, Reading("about", -4, 1, "q", null=0))
    assert label(cid, iv(-2.5, -1.0)) == PARTLY
    assert label(cid, iv(-9.0, -6.0)) == REFUTED


def test_ratios_work_on_the_log_scale_and_never_raise():
    assert label("C3", {"accuracy": iv(99.3, 99.5), "speed": iv(2.4, 5.0)}) == CONFIRMED
    assert label("C3", {"accuracy": iv(99.3, 99.5), "speed": iv(1.1, 2.3)}) == PARTLY
    assert label("C3", {"accuracy": iv(99.3, 99.5), "speed": iv(0.7, 0.8)}) == REFUTED
    v = claims.judge("C3", {"accuracy": iv(99.3, 99.5), "speed": iv(-0.2, 4.0)})
    assert v.verdict == INCONCLUSIVE and "zero" in v.record["parts"][1]["why"]
    assert label("C3", {"accuracy": iv(99.3, 99.5), "speed": iv(0.0, 0.5)}) == INCONCLUSIVE
    # a slowdown is never 'confirmed' whatever the margin (the old tolerance bug)
    assert label("T06.pruning_speed", iv(0.96, 0.98)) == REFUTED


def test_an_unconverged_model_makes_the_claim_not_testable_for_budget():
    v = claims.judge("C12", iv(99.0, 99.2), converged={"final model": False})
    assert v.verdict == UNTESTABLE_BUDGET and "Not converged" in v.why
    assert v.why.endswith("final model.")
    assert label("C12", iv(99.0, 99.2), converged={"final model": True}) == REFUTED
    both = {"plain": True, "SE": False}
    assert claims.judge("C4", iv(0.8, 1.0), converged=both).why.endswith(": SE.")
    assert label("C4", iv(0.8, 1.0), converged={"plain": True, "SE": True}) == CONFIRMED


def test_convergence_matters_only_to_parts_that_depend_on_training():
    v = claims.judge("C1", {"accuracy": iv(99.3, 99.6), "parameters": iv(61_000, 61_001)},
                     converged={"LeNet-5": False})
    assert [p["verdict"] for p in v.record["parts"]] == [UNTESTABLE_BUDGET, CONFIRMED]
    assert v.verdict == UNTESTABLE_BUDGET
    assert v.record["parts"][1]["converged"] == {}
    # a parameter count far off is refuted whatever the training
    v = claims.judge("C1", {"accuracy": iv(99.3, 99.6), "parameters": iv(10, 11)},
                     converged={"LeNet-5": False})
    assert v.verdict == REFUTED
    assert label("C9", {"size": iv(3.5, 4.0), "speed": iv(2.6, 3.0)},
                 converged={"x": False}) == CONFIRMED


def test_a_claim_made_for_another_setting():
    here = "a 2-core CPU"
    v = claims.judge("C13", iv(2.0, 3.0), here=here)
    assert v.verdict == UNTESTABLE_SETTING and "NVIDIA T4" in v.why and here in v.why
    assert "'confirmed'" in v.why
    assert label("C13", iv(2.0, 3.0), setting_ok=True) == CONFIRMED
    # met on a weaker setting than the claimed cluster: confirmed a fortiori
    v = claims.judge("C10", {"throughput": iv(2500, 2900), "p99": iv(9, 11)}, here=here)
    assert v.verdict == CONFIRMED and "a fortiori" in v.why
    # not met on the weaker setting: it says nothing about the cluster
    v = claims.judge("C10", {"throughput": iv(1500, 1700), "p99": iv(9, 11)}, here=here)
    assert v.verdict == UNTESTABLE_SETTING
    assert label("C10", {"throughput": iv(1500, 1700), "p99": iv(9, 11)},
                 setting_ok=True) == REFUTED


@pytest.mark.parametrize("parts, expected", [
    ((CONFIRMED, CONFIRMED), CONFIRMED),
    ((CONFIRMED, REFUTED), REFUTED),
    ((INCONCLUSIVE, REFUTED), REFUTED),
    ((UNTESTABLE_BUDGET, REFUTED), REFUTED),
    ((UNTESTABLE_SETTING, CONFIRMED), UNTESTABLE_SETTING),
    ((UNTESTABLE_BUDGET, INCONCLUSIVE), UNTESTABLE_BUDGET),
    ((UNTESTABLE_BUDGET, UNTESTABLE_SETTING), UNTESTABLE_SETTING),
    ((INCONCLUSIVE, CONFIRMED), INCONCLUSIVE),
    ((INCONCLUSIVE, PARTLY), INCONCLUSIVE),
    ((PARTLY, CONFIRMED), PARTLY),
    ((PARTLY, PARTLY), PARTLY),
    ((REFUTED, REFUTED), REFUTED),
])
def test_composite_claims(parts, expected):
    assert claims.combine_labels(list(parts)) == expected
    assert claims.combine_labels(list(reversed(parts))) == expected


def test_combine_needs_a_part():
    with pytest.raises(ValueError):
        claims.combine_labels([])


def test_a_composite_with_an_undecided_part_still_shows_a_refuted_part():
    # C3-like: accuracy undecided, speed 0.77x against 3x
    v = claims.judge("C3", {"accuracy": iv(99.0, 99.4), "speed": iv(0.76, 0.78)})
    assert v.verdict == REFUTED
    assert [p["verdict"] for p in v.record["parts"]] == [INCONCLUSIVE, REFUTED]
    assert "Accuracy: inconclusive" in v.why and "Speed: refuted" in v.why


# -- the noise promise ------------------------------------------------------------------------

#: how a verdict may change when its interval widens: only towards deciding less
ALLOWED = {CONFIRMED: {CONFIRMED, INCONCLUSIVE, UNTESTABLE_SETTING, UNTESTABLE_BUDGET},
           PARTLY: {PARTLY, INCONCLUSIVE, UNTESTABLE_SETTING, UNTESTABLE_BUDGET},
           REFUTED: {REFUTED, INCONCLUSIVE, UNTESTABLE_SETTING, UNTESTABLE_BUDGET},
           INCONCLUSIVE: {INCONCLUSIVE, UNTESTABLE_SETTING},
           UNTESTABLE_SETTING: {UNTESTABLE_SETTING},
           UNTESTABLE_BUDGET: {UNTESTABLE_BUDGET}}


def _random_interval(rng, reading: Reading) -> tuple[float, float, float]:
    c = reading.claimed
    spread = max(abs(c - (reading.null if reading.null is not None else 0)), abs(c), 1) * 3
    a, b = sorted(rng.uniform(c - spread, c + spread, 2))
    if reading.log:
        a, b = sorted(rng.uniform(-0.5, c * 3, 2))
    return a, b, rng.uniform(a, b)


def test_widening_an_interval_never_makes_a_verdict_more_decided():
    rng = np.random.default_rng(0)
    checked = 0
    for claim_id, spec in READINGS.items():
        names = list(spec.parts)
        for _ in range(400):
            base = {n: _random_interval(rng, spec.parts[n]) for n in names}
            widened = dict(base)
            which = names[rng.integers(len(names))]
            low, high, est = base[which]
            widened[which] = (low - rng.exponential(abs(high - low) + 0.1),
                              high + rng.exponential(abs(high - low) + 0.1), est)
            kw = {"converged": {"m": True}}
            before = claims.judge(claim_id, {n: iv(*v) for n, v in base.items()}
                                  if names != [""] else iv(*base[""]), **kw)
            after = claims.judge(claim_id, {n: iv(*v) for n, v in widened.items()}
                                 if names != [""] else iv(*widened[""]), **kw)
            assert after.verdict in ALLOWED[before.verdict], (claim_id, base, widened)
            for p, q in zip(before.record.get("parts", [before.record]),
                            after.record.get("parts", [after.record])):
                assert q["verdict"] in ALLOWED[p["verdict"]], (claim_id, p, q)
            checked += 1
    assert checked > 5000


# -- stored rows --------------------------------------------------------------------------------

def test_a_stored_row_carries_the_numbers_its_verdict_came_from():
    v = claims.judge("C1", {"accuracy": claims.binomial_interval(9_950, 10_000).scaled(100),
                            "parameters": claims.exact(61_706, 1)},
                     converged={"LeNet-5": True})
    row = json.loads(json.dumps(Claim("C1", "99.50%, 61,706", v).record()))
    assert row["verdict"] == CONFIRMED and row["id"] == "C1" and row["rule"]
    for part in row["parts"]:
        for key in ("reading", "claimed", "region", "null_value", "estimate", "low", "high",
                    "n", "interval", "converged", "setting_ok"):
            assert key in part, key
    assert row["parts"][0]["region"] == [99, None] and row["parts"][0]["n"] == 10_000
    assert claims.recompute(row) == []


def test_recompute_finds_a_tampered_row():
    v = claims.judge("C8", iv(11.9, 12.1))
    row = json.loads(json.dumps(Claim("C8", "+12", v).record()))
    assert claims.recompute(row) == []
    assert claims.recompute({**row, "verdict": REFUTED}) != []
    assert claims.recompute({**row, "low": 1.0, "high": 2.0}) != []
    composite = json.loads(json.dumps(Claim("C3", "x", claims.judge(
        "C3", {"accuracy": iv(99.3, 99.5), "speed": iv(2.5, 4)})).record()))
    assert claims.recompute(composite) == []
    assert claims.recompute({**composite, "verdict": PARTLY}) != []
    composite["parts"][1].update(low=1.1, estimate=1.5, high=2.0)
    assert claims.recompute(composite) != []


def test_claim_rows_name_known_claims_and_carry_numbers():
    with pytest.raises(ValueError, match="unknown claim"):
        Claim("C99", "x", claims.judge("C8", iv(11, 13)))
    with pytest.raises(ValueError, match="judge"):
        Claim("C8", "x", claims.Verdict(CONFIRMED, "typed by hand"))
    with pytest.raises(ValueError, match="not one of"):
        claims.Verdict("not reproducible here", "gone")
    with pytest.raises(TypeError):
        claims.claims_table(["C1"])


def test_claims_table_shows_markdown_and_stores_json():
    table = claims.claims_table([Claim("C8", "+12.0 points", claims.judge("C8", iv(11, 13)),
                                       note="5 seeds")])
    bundle = table._repr_mimebundle_()
    assert "| C8 |" in bundle["text/markdown"] and "**confirmed**" in bundle["text/markdown"]
    assert "5 seeds" in bundle["text/markdown"]
    [row] = bundle[claims.CLAIMS_MIME]
    assert row["verdict"] == CONFIRMED and row["measured"] == "+12.0 points"


def test_markdown_text_escapes_pipes():
    text = claims.markdown_text(["a", "b"], [["x|y", "z\nw"]])
    assert "x\\|y" in text and "z w" in text


def test_every_label_is_in_the_legend():
    assert set(claims.LEGEND) == set(claims.VERDICTS) and len(set(claims.VERDICTS)) == 6
    assert "not reproducible here" not in claims.VERDICTS
