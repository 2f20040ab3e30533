"""Chapter 04b's exercise 3 checker: the row to confirm C10 on meets both goals, with room."""

from mnist_course.course import claims
from mnist_course.course.checks.ch04b import P99_LIMIT_MS, RPS_GOAL, Checks


def test_goals_are_c10s_reading():
    parts = claims.READINGS["C10"].parts
    assert RPS_GOAL == parts["throughput"].claimed
    assert P99_LIMIT_MS == parts["p99"].claimed


def _room(row):
    return min(row["rps"] / RPS_GOAL, P99_LIMIT_MS / row["p99_ms"])


def _solution(rows):
    ok = [r for r in rows if r["rps"] >= RPS_GOAL and r["p99_ms"] < P99_LIMIT_MS
          and not r["errors"]]
    return max(ok, key=_room) if ok else None


def _product_solution(rows):  # another sensible measure of room on two goals
    ok = [r for r in rows if r["rps"] >= RPS_GOAL and r["p99_ms"] < P99_LIMIT_MS
          and not r["errors"]]
    return max(ok, key=lambda r: r["rps"] / RPS_GOAL * P99_LIMIT_MS / r["p99_ms"]) \
        if ok else None


SWEEP = [{"config": "x", "rps": 2600.0, "p99_ms": 10.0, "errors": 0},
         {"config": "y", "rps": 1200.0, "p99_ms": 6.0, "errors": 0}]


def test_room_on_both_goals_passes():
    check = Checks(strict=False)
    assert check.pick_to_confirm(_solution, SWEEP).passed
    assert check.pick_to_confirm(_product_solution, SWEEP).passed
    assert check.pick_to_confirm(_solution, []).passed


def test_old_rule_and_one_sided_rules_fail():
    check = Checks(strict=False)

    def most_rps_under_limit(rows):  # the old rule: picks the point on the p99 edge
        ok = [r for r in rows if r["p99_ms"] < P99_LIMIT_MS]
        return max(ok, key=lambda r: r["rps"]) if ok else None

    def lowest_p99(rows):
        ok = [r for r in rows if r["rps"] >= RPS_GOAL and r["p99_ms"] < P99_LIMIT_MS
              and not r["errors"]]
        return min(ok, key=lambda r: r["p99_ms"]) if ok else None

    def ignores_errors(rows):
        ok = [r for r in rows if r["rps"] >= RPS_GOAL and r["p99_ms"] < P99_LIMIT_MS]
        return max(ok, key=_room) if ok else None

    for wrong in (most_rps_under_limit, lowest_p99, ignores_errors):
        assert not check.pick_to_confirm(wrong, SWEEP).passed, wrong.__name__


def test_none_when_a_sweep_has_qualifying_rows_fails():
    check = Checks(strict=False)

    def none_on_real(rows):
        return None if rows is not None and len(rows) == 2 else _solution(rows)

    assert not check.pick_to_confirm(none_on_real, SWEEP).passed
